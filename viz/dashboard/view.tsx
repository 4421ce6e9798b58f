/**
 * The dashboard's ink view: it renders a DashboardModel and nothing else. Laid out for 80 columns:
 * the workloads with their golden metrics and sparklines, the selected one's edges, a help line.
 */
import { Box, Text } from "ink";
import { ms, pct, rps } from "../table.js";
import { type DashboardModel, selectedEdges, selectedRoutes, sparkline } from "./model.js";

const SPARK = 12;
const col = (text: string, width: number) => text.slice(0, width).padEnd(width);

export function Dashboard({
  model,
  maxEdges = 5,
  maxRoutes = 3,
}: {
  model: DashboardModel;
  maxEdges?: number;
  maxRoutes?: number;
}) {
  const edges = selectedEdges(model).slice(0, maxEdges);
  const routes = selectedRoutes(model).slice(0, maxRoutes);
  return (
    <Box flexDirection="column" width={80}>
      <Text bold>
        Trellis · namespace {model.namespace} · sorted by {model.sort}
      </Text>
      <Text dimColor>
        {col("", 2)}
        {col("NAME", 14)}
        {col("SUCCESS", 9)}
        {col("RPS", 9)}
        {col("P50", 8)}
        {col("P99", 8)}
        {col("RPS", SPARK + 1)}
        {col("P99", SPARK)}
      </Text>
      {model.rows.map((r) => {
        const selected = r.name === model.selected;
        const h = model.history[r.name] ?? { rps: [], p99: [] };
        const failing = r.success !== undefined && r.success < 0.95;
        return (
          <Text key={r.name} inverse={selected}>
            {col(selected ? "›" : "", 2)}
            {col(r.name, 14)}
            <Text color={failing ? "red" : undefined}>{col(pct(r.success), 9)}</Text>
            {col(rps(r.rps), 9)}
            {col(ms(r.latencyMsP50), 8)}
            {col(ms(r.latencyMsP99), 8)}
            <Text color="green">{col(sparkline(h.rps, SPARK), SPARK + 1)}</Text>
            <Text color="yellow">{sparkline(h.p99, SPARK)}</Text>
          </Text>
        );
      })}
      {model.rows.length === 0 ? <Text dimColor>waiting for the first window…</Text> : null}
      <Text> </Text>
      <Text bold>Edges of {model.selected ?? "-"}</Text>
      {edges.map((e) => (
        <Text key={`${e.src}>${e.dst}`}>
          {col(`${e.src} → ${e.dst}`, 40)}
          {e.secured === true ? (
            <Text color="green">√ mTLS</Text>
          ) : (
            <Text color="red">{`× ${e.secured}`.slice(0, 38)}</Text>
          )}
        </Text>
      ))}
      {routes.length > 0 ? <Text bold>Routes of {model.selected}</Text> : null}
      {routes.map((r) => (
        <Text key={r.route}>
          {col(r.route, 30)}
          {col(pct(r.success), 9)}
          {col(rps(r.rps), 9)}
          {ms(r.latencyMsP99)}
        </Text>
      ))}
      {model.error ? <Text color="red">{model.error.slice(0, 78)}</Text> : null}
      <Text dimColor>↑/↓ select · s sort · q quit</Text>
    </Box>
  );
}
