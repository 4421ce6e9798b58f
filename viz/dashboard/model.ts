/**
 * The live dashboard's state as pure functions: each refresh's rows and edges appended to a short
 * history (for sparklines), the sort key, the selected workload. The ink view (./view.tsx) only renders it.
 */
import type { EdgeRow } from "../edges.js";
import type { StatRow } from "../golden.js";
import type { RouteRow } from "../routes.js";

export type SortKey = "name" | "rps" | "success" | "p99";
export const SORT_KEYS: readonly SortKey[] = ["name", "rps", "success", "p99"];
/** Refreshes kept per workload for its sparklines. */
export const HISTORY = 20;

export interface DashboardModel {
  namespace: string;
  rows: StatRow[];
  edges: EdgeRow[];
  /** Every service's routes, as its callers see them. */
  routes: RouteRow[];
  /** Per workload name, oldest first. */
  history: Record<string, { rps: number[]; p99: number[] }>;
  /** The selected workload's name. */
  selected: string | undefined;
  sort: SortKey;
  /** The last refresh's error, shown until one succeeds. */
  error?: string;
}

export function initialModel(namespace: string): DashboardModel {
  return { namespace, rows: [], edges: [], routes: [], history: {}, selected: undefined, sort: "name" };
}

const cap = (values: number[], v: number) => [...values, v].slice(-HISTORY);

/** A refresh's rows and edges: history grows, the selection survives while its workload does. */
export function withSnapshot(
  m: DashboardModel,
  rows: StatRow[],
  edges: EdgeRow[],
  routes: RouteRow[] = [],
): DashboardModel {
  const history: DashboardModel["history"] = {};
  for (const r of rows) {
    const h = m.history[r.name] ?? { rps: [], p99: [] };
    history[r.name] = { rps: cap(h.rps, r.rps), p99: cap(h.p99, r.latencyMsP99 ?? 0) };
  }
  const ordered = sortRows(rows, m.sort);
  const selected = ordered.some((r) => r.name === m.selected) ? m.selected : ordered[0]?.name;
  return { ...m, rows: ordered, edges, routes, history, selected, error: undefined };
}

export function withError(m: DashboardModel, error: string): DashboardModel {
  return { ...m, error };
}

export function sortRows(rows: readonly StatRow[], key: SortKey): StatRow[] {
  const by: Record<SortKey, (a: StatRow, b: StatRow) => number> = {
    name: (a, b) => a.name.localeCompare(b.name),
    rps: (a, b) => b.rps - a.rps,
    success: (a, b) => (a.success ?? 2) - (b.success ?? 2),
    p99: (a, b) => (b.latencyMsP99 ?? -1) - (a.latencyMsP99 ?? -1),
  };
  return [...rows].sort((a, b) => by[key](a, b) || a.name.localeCompare(b.name));
}

export function cycleSort(m: DashboardModel): DashboardModel {
  const sort = SORT_KEYS[(SORT_KEYS.indexOf(m.sort) + 1) % SORT_KEYS.length] ?? "name";
  return { ...m, sort, rows: sortRows(m.rows, sort) };
}

/** Moves the selection up (-1) or down (+1), stopping at the ends. */
export function moveSelection(m: DashboardModel, delta: number): DashboardModel {
  const i = m.rows.findIndex((r) => r.name === m.selected);
  const next = m.rows[Math.min(Math.max(i + delta, 0), m.rows.length - 1)];
  return next ? { ...m, selected: next.name } : m;
}

/** The selected workload's edges, both ways. */
export function selectedEdges(m: DashboardModel): EdgeRow[] {
  return m.edges.filter((e) => e.src === m.selected || e.dst === m.selected);
}

/** The routes of the selected workload's service (a workload and its Service share a name here). */
export function selectedRoutes(m: DashboardModel): RouteRow[] {
  return m.routes.filter((r) => r.service === m.selected);
}

const BARS = "▁▂▃▄▅▆▇█";

/** The last `width` values as bars scaled to their maximum; blanks pad a short history on the left. */
export function sparkline(values: readonly number[], width: number): string {
  const last = values.slice(-width);
  const max = Math.max(...last, 0);
  const bars = last.map((v) =>
    max > 0 ? (BARS[Math.min(Math.floor((v / max) * (BARS.length - 1)), BARS.length - 1)] ?? " ") : BARS[0],
  );
  return bars.join("").padStart(width, " ");
}
