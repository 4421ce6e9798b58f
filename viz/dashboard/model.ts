/**
 * The live dashboard's state as pure functions: each refresh's snapshot (every namespace's workloads,
 * edges and splits, the current namespace's routes) folded into a history per workload for the
 * sparklines; the namespace shown, the sort key and the selected workload; and what each key does.
 * The ink view (./view.tsx) only renders what ./screen.ts lays out from it.
 */
import type { EdgeRow } from "../edges.js";
import type { SplitRow, StatRow } from "../golden.js";
import type { RouteRow } from "../routes.js";

export type SortKey = "name" | "rps" | "success" | "p99";
export const SORT_KEYS: readonly SortKey[] = ["name", "rps", "success", "p99"];
/** Refreshes kept per workload for its sparklines: three minutes at one refresh every 3 s. */
export const HISTORY = 60;

/** A ServiceProfile route's row with the retries its clients' proxies sent on it. */
export interface RetriedRoute extends RouteRow {
  /** Retries per second over the window; undefined when no proxy counted any. */
  retriesPerSecond: number | undefined;
}

/** What one refresh read. */
export interface Snapshot {
  /** Every namespace's workloads. */
  rows: StatRow[];
  /** Every namespace's edges. */
  edges: EdgeRow[];
  /** The routes called by clients in `routesNamespace` (gathered for the namespace shown only). */
  routes: RetriedRoute[];
  routesNamespace: string | undefined;
  /** Every known TrafficSplit's backends, with their weights and traffic. */
  splits: SplitRow[];
  /** Something this refresh could not read while the rest came through (a store being edited). */
  problem?: string;
}

export interface DashboardModel {
  /** The namespace shown; undefined until the data names one (`-A`). */
  namespace: string | undefined;
  /** The namespaces `n` cycles through: those in the data and the one asked for, sorted. */
  namespaces: string[];
  snapshot: Snapshot;
  /** Per `namespace/workload`, oldest first. */
  history: Record<string, { rps: number[]; p99: number[] }>;
  /** The selected workload's name, in the namespace shown. */
  selected: string | undefined;
  sort: SortKey;
  /** Refreshes so far. */
  refreshes: number;
  /** The last refresh's error, shown until one succeeds. */
  error?: string;
}

const EMPTY: Snapshot = { rows: [], edges: [], routes: [], routesNamespace: undefined, splits: [] };

export function initialModel(namespace: string | undefined): DashboardModel {
  return {
    namespace,
    namespaces: namespace === undefined ? [] : [namespace],
    snapshot: EMPTY,
    history: {},
    selected: undefined,
    sort: "name",
    refreshes: 0,
  };
}

const cap = (values: number[], v: number) => [...values, v].slice(-HISTORY);
const historyKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** A refresh: history grows, the namespace list follows the data, the selection survives while its workload does. */
export function withSnapshot(m: DashboardModel, snapshot: Snapshot): DashboardModel {
  const history: DashboardModel["history"] = {};
  for (const r of snapshot.rows) {
    const k = historyKey(r.namespace, r.name);
    const h = m.history[k] ?? { rps: [], p99: [] };
    history[k] = { rps: cap(h.rps, r.rps), p99: cap(h.p99, r.latencyMsP99 ?? 0) };
  }
  const present = [...snapshot.rows.map((r) => r.namespace), ...snapshot.splits.map((s) => s.namespace)];
  const namespaces = [...new Set([...present, ...(m.namespace === undefined ? [] : [m.namespace])])]
    .filter(Boolean)
    .sort();
  const next: DashboardModel = {
    ...m,
    namespace: m.namespace ?? namespaces[0],
    namespaces,
    snapshot,
    history,
    refreshes: m.refreshes + 1,
    error: undefined,
  };
  return keepSelection(next);
}

export function withError(m: DashboardModel, error: string): DashboardModel {
  return { ...m, error };
}

/** The selection stays on its workload while it is shown, else moves to the first row. */
function keepSelection(m: DashboardModel): DashboardModel {
  const rows = visibleRows(m);
  return rows.some((r) => r.name === m.selected) ? m : { ...m, selected: rows[0]?.name };
}

/** The workloads of the namespace shown, in the model's sort order. */
export function visibleRows(m: DashboardModel): StatRow[] {
  return sortRows(
    m.snapshot.rows.filter((r) => r.namespace === m.namespace),
    m.sort,
  );
}

export function sortRows(rows: readonly StatRow[], key: SortKey): StatRow[] {
  const by: Record<SortKey, (a: StatRow, b: StatRow) => number> = {
    name: (a, b) => a.name.localeCompare(b.name),
    rps: (a, b) => b.rps - a.rps,
    // The worst first; rows without responses last.
    success: (a, b) => (a.success ?? 2) - (b.success ?? 2),
    p99: (a, b) => (b.latencyMsP99 ?? -1) - (a.latencyMsP99 ?? -1),
  };
  return [...rows].sort((a, b) => by[key](a, b) || a.name.localeCompare(b.name));
}

export function cycleSort(m: DashboardModel): DashboardModel {
  return { ...m, sort: SORT_KEYS[(SORT_KEYS.indexOf(m.sort) + 1) % SORT_KEYS.length] ?? "name" };
}

/** The next namespace of the data, wrapping around; the selection moves to its first workload. */
export function cycleNamespace(m: DashboardModel): DashboardModel {
  if (m.namespaces.length === 0) return m;
  const i = m.namespace === undefined ? -1 : m.namespaces.indexOf(m.namespace);
  const namespace = m.namespaces[(i + 1) % m.namespaces.length];
  if (namespace === m.namespace) return m;
  return keepSelection({ ...m, namespace, selected: undefined });
}

/** Moves the selection up (-1) or down (+1), stopping at the ends. */
export function moveSelection(m: DashboardModel, delta: number): DashboardModel {
  const rows = visibleRows(m);
  const i = rows.findIndex((r) => r.name === m.selected);
  const next = rows[Math.min(Math.max(i + delta, 0), rows.length - 1)];
  return next ? { ...m, selected: next.name } : m;
}

/** A key as ink reports it. */
export interface Key {
  input: string;
  upArrow?: boolean;
  downArrow?: boolean;
  ctrl?: boolean;
}

/**
 * The keys in what one read of the terminal brought: keys typed faster than the terminal is read arrive
 * as one string (`nq`), each character a key of its own.
 */
export function keysOf(key: Key): Key[] {
  if (key.input.length <= 1 || key.ctrl) return [key];
  return Array.from(key.input, (input) => ({ input }));
}

/** `q` and Ctrl-C quit. */
export function isQuitKey(key: Key): boolean {
  return key.input === "q" || (key.ctrl === true && key.input === "c") || key.input === "\x03";
}

/** What any other key does to the model: `s` sort, `n` namespace, ↑/↓ (k/j) selection. */
export function applyKey(m: DashboardModel, key: Key): DashboardModel {
  const input = key.input;
  if (input === "s") return cycleSort(m);
  if (input === "n") return cycleNamespace(m);
  if (key.upArrow || input === "k") return moveSelection(m, -1);
  if (key.downArrow || input === "j") return moveSelection(m, 1);
  return m;
}

export function historyOf(m: DashboardModel, name: string): { rps: number[]; p99: number[] } {
  return m.history[historyKey(m.namespace ?? "", name)] ?? { rps: [], p99: [] };
}

/** The selected workload's edges, both ways. */
export function selectedEdges(m: DashboardModel): EdgeRow[] {
  const ns = m.namespace;
  return m.snapshot.edges.filter(
    (e) => (e.srcNamespace === ns && e.src === m.selected) || (e.dstNamespace === ns && e.dst === m.selected),
  );
}

/** The routes of the selected workload's service (a workload and its Service share a name here). */
export function selectedRoutes(m: DashboardModel): RetriedRoute[] {
  if (m.snapshot.routesNamespace !== m.namespace) return [];
  return m.snapshot.routes.filter((r) => r.service === m.selected);
}

/** The TrafficSplits of the namespace shown, each with its backends. */
export function namespaceSplits(m: DashboardModel): { name: string; apex: string; backends: SplitRow[] }[] {
  const out = new Map<string, { name: string; apex: string; backends: SplitRow[] }>();
  for (const b of m.snapshot.splits) {
    if (b.namespace !== m.namespace) continue;
    const s = out.get(b.split) ?? { name: b.split, apex: b.apex, backends: [] };
    s.backends.push(b);
    out.set(b.split, s);
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

const BARS = "▁▂▃▄▅▆▇█";

/** The last `width` values as bars scaled to their maximum; blanks pad a short history on the left. */
export function sparkline(values: readonly number[], width: number): string {
  if (width <= 0) return "";
  const last = values.slice(-width);
  const max = Math.max(...last, 0);
  const bars = last.map((v) =>
    max > 0 ? (BARS[Math.min(Math.floor((v / max) * (BARS.length - 1)), BARS.length - 1)] ?? " ") : BARS[0],
  );
  return bars.join("").padStart(width, " ");
}
