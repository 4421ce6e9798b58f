/** The tables and JSON `viz stat`, `viz edges` and `viz routes` print, from their rows. */
import type { EdgeRow } from "./edges.js";
import type { SplitRow, StatRow } from "./golden.js";
import type { RouteRow } from "./routes.js";
import { bytesPerSecond, ms, pct, renderTable, rps } from "./table.js";

export type Output = "table" | "wide" | "json";

const latencies = (r: { latencyMsP50?: number; latencyMsP95?: number; latencyMsP99?: number }) => [
  ms(r.latencyMsP50),
  ms(r.latencyMsP95),
  ms(r.latencyMsP99),
];

const json = (rows: unknown[]) => JSON.stringify(rows, (_, v) => (v === undefined ? null : v), 2);

export function renderStat(rows: readonly StatRow[], output: Output, allNamespaces: boolean): string {
  if (output === "json")
    return json(
      rows.map((r) => ({
        namespace: r.namespace,
        name: r.name,
        meshed: r.meshed ? `${r.meshed.meshed}/${r.meshed.total}` : undefined,
        success: r.success,
        rps: r.rps,
        latency_ms_p50: r.latencyMsP50,
        latency_ms_p95: r.latencyMsP95,
        latency_ms_p99: r.latencyMsP99,
        tcp_open_connections: r.tcpOpenConnections,
        tcp_read_bytes_rate: r.readBytesPerSecond,
        tcp_write_bytes_rate: r.writeBytesPerSecond,
      })),
    );
  const wide = output === "wide";
  const header = [
    ...(allNamespaces ? ["NAMESPACE"] : []),
    "NAME",
    "MESHED",
    "SUCCESS",
    "RPS",
    "LATENCY_P50",
    "LATENCY_P95",
    "LATENCY_P99",
    "TCP_CONN",
    ...(wide ? ["READ_BYTES/SEC", "WRITE_BYTES/SEC"] : []),
  ];
  const cells = rows.map((r) => [
    ...(allNamespaces ? [r.namespace] : []),
    r.name,
    r.meshed ? `${r.meshed.meshed}/${r.meshed.total}` : "-",
    pct(r.success),
    rps(r.rps),
    ...latencies(r),
    r.tcpOpenConnections === undefined ? "-" : String(r.tcpOpenConnections),
    ...(wide ? [bytesPerSecond(r.readBytesPerSecond), bytesPerSecond(r.writeBytesPerSecond)] : []),
  ]);
  return renderTable(header, cells);
}

export function renderSplit(rows: readonly SplitRow[], output: Output): string {
  if (output === "json")
    return json(
      rows.map((r) => ({
        namespace: r.namespace,
        name: r.split,
        apex: r.apex,
        leaf: r.name,
        weight: r.weight,
        success: r.success,
        rps: r.rps,
        latency_ms_p50: r.latencyMsP50,
        latency_ms_p95: r.latencyMsP95,
        latency_ms_p99: r.latencyMsP99,
      })),
    );
  const header = [
    "NAME",
    "APEX",
    "LEAF",
    "WEIGHT",
    "SUCCESS",
    "RPS",
    "LATENCY_P50",
    "LATENCY_P95",
    "LATENCY_P99",
  ];
  const cells = rows.map((r) => [
    r.split,
    r.apex,
    r.name,
    `${Math.round(r.weight * 100)}%`,
    pct(r.success),
    rps(r.rps),
    ...latencies(r),
  ]);
  return renderTable(header, cells);
}

export const SECURED = "√";

export function renderEdges(rows: readonly EdgeRow[], output: Output): string {
  if (output === "json")
    return json(
      rows.map((r) => ({
        src: r.src,
        dst: r.dst,
        src_namespace: r.srcNamespace,
        dst_namespace: r.dstNamespace,
        client_id: r.clientId,
        server_id: r.serverId,
        secured: r.secured === true,
        no_tls_reason: r.secured === true ? undefined : r.secured,
      })),
    );
  const wide = output === "wide";
  const header = ["SRC", "DST", "SRC_NS", "DST_NS", ...(wide ? ["CLIENT_ID", "SERVER_ID"] : []), "SECURED"];
  const cells = rows.map((r) => [
    r.src,
    r.dst,
    r.srcNamespace || "-",
    r.dstNamespace || "-",
    ...(wide ? [r.clientId ?? "-", r.serverId ?? "-"] : []),
    r.secured === true ? SECURED : `× ${r.secured}`,
  ]);
  return renderTable(header, cells);
}

export function renderRoutes(rows: readonly RouteRow[], output: Output): string {
  if (output === "json")
    return json(
      rows.map((r) => ({
        route: r.route,
        service: r.service,
        success: r.success,
        rps: r.rps,
        latency_ms_p50: r.latencyMsP50,
        latency_ms_p95: r.latencyMsP95,
        latency_ms_p99: r.latencyMsP99,
      })),
    );
  const header = ["ROUTE", "SERVICE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"];
  return renderTable(
    header,
    rows.map((r) => [r.route, r.service, pct(r.success), rps(r.rps), ...latencies(r)]),
  );
}
