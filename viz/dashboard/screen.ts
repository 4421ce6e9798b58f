/**
 * The dashboard laid out for a terminal of a given size, as lines of styled segments: no line is wider
 * than the terminal (columns are sized to it, long text ends in `…`, nothing wraps) and there are no
 * more lines than it has rows (the workloads scroll around the selection, sections show what fits).
 * At 80 columns the sparklines show the last 16 refreshes; wider terminals get longer ones, longer
 * names and the peers' identities.
 */
import { ms, pct, rps } from "../table.js";
import {
  type DashboardModel,
  HISTORY,
  historyOf,
  namespaceSplits,
  SORT_KEYS,
  selectedEdges,
  selectedRoutes,
  sparkline,
  visibleRows,
} from "./model.js";

export type Color = "red" | "green" | "yellow";

export interface Segment {
  text: string;
  color?: Color;
  bold?: boolean;
  dim?: boolean;
  inverse?: boolean;
}

export type Line = Segment[];

export interface ScreenSize {
  /** Columns. */
  width: number;
  /** Lines the dashboard may use. */
  height: number;
}

export interface ScreenOptions extends ScreenSize {
  /** A line above the help line, e.g. where the demo's store is. */
  note?: string;
}

const chars = (text: string) => Array.from(text);
const seg = (text: string, style: Omit<Segment, "text"> = {}): Segment => ({ text, ...style });

/** `text` in exactly `width` columns: padded, or cut with `…`. */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  const c = chars(text);
  return c.length > width
    ? `${c.slice(0, width - 1).join("")}…`
    : text.padEnd(width + text.length - c.length);
}

/** A column of `width` including the one space that separates it from the next. */
const cell = (text: string, width: number) => `${fit(text, width - 1)} `;

/** The line cut to `width` columns, its last visible character a `…` when something was cut. */
export function clip(line: Line, width: number): Line {
  const out: Line = [];
  let used = 0;
  const total = line.reduce((n, s) => n + chars(s.text).length, 0);
  for (const s of line) {
    const c = chars(s.text);
    if (used + c.length <= width && (total <= width || used + c.length < width)) {
      out.push(s);
      used += c.length;
      continue;
    }
    const room = width - used;
    if (room > 0) out.push({ ...s, text: `${c.slice(0, room - 1).join("")}…` });
    break;
  }
  return out;
}

export const lineText = (line: Line): string => line.map((s) => s.text).join("");

const successColor = (v: number | undefined): Color | undefined =>
  v === undefined ? undefined : v < 0.95 ? "red" : v < 0.99 ? "yellow" : "green";

interface Section {
  title: string;
  /** The title's width when column titles follow it. */
  label?: number;
  columns?: string;
  items: Line[];
}

/** A section's header: its title (with how many items did not fit) and its column titles. */
function sectionHeader(s: Section, hidden: number): Line {
  const more = hidden > 0 ? ` (+${hidden} more)` : "";
  if (s.label === undefined) return [seg(`${s.title}${more}`, { bold: true })];
  // The count stays whole: the title gives way.
  const title = `${fit(s.title, s.label - 1 - more.length).trimEnd()}${more}`;
  return [seg(cell(title, s.label), { bold: true }), seg(s.columns ?? "", { dim: true })];
}

/** The workloads table's columns for a width. */
function tableColumns(m: DashboardModel, width: number) {
  const longest = Math.max(4, ...visibleRows(m).map((r) => chars(r.name).length));
  const name = Math.min(Math.max(longest + 2, 10), width >= 100 ? 32 : 16);
  const fixed = 2 + name + 9 + 10 + 8 + 8;
  const spark = Math.min(HISTORY, Math.floor((width - fixed - 1) / 2));
  return { name, spark: spark >= 4 ? spark : 0 };
}

function tableHeader(cols: ReturnType<typeof tableColumns>): Line {
  const trend = (t: string) => fit(cols.spark >= 10 ? `${t} TREND` : t, cols.spark);
  return [
    seg(
      `  ${cell("NAME", cols.name)}${cell("SUCCESS", 9)}${cell("RPS", 10)}${cell("P50", 8)}${cell("P99", 8)}${
        cols.spark ? `${trend("RPS")} ${trend("P99")}` : ""
      }`,
      { dim: true },
    ),
  ];
}

function tableLines(m: DashboardModel, cols: ReturnType<typeof tableColumns>): Line[] {
  if (m.refreshes === 0) return [[seg("  waiting for the first window…", { dim: true })]];
  const rows = visibleRows(m);
  if (rows.length === 0) {
    const more = m.namespaces.length > 1 ? " (n: the next namespace)" : "";
    return [[seg(`  no workloads in namespace ${m.namespace ?? "-"}${more}`, { dim: true })]];
  }
  return rows.map((r) => {
    const selected = r.name === m.selected;
    const h = historyOf(m, r.name);
    const line: Line = [
      seg(`${selected ? "›" : " "} ${cell(r.name, cols.name)}`),
      seg(cell(pct(r.success), 9), { color: successColor(r.success) }),
      seg(cell(rps(r.rps), 10)),
      seg(cell(ms(r.latencyMsP50), 8)),
      seg(cell(ms(r.latencyMsP99), 8)),
    ];
    if (cols.spark) {
      line.push(seg(`${sparkline(h.rps, cols.spark)} `, { color: "green" }));
      line.push(seg(sparkline(h.p99, cols.spark), { color: "yellow" }));
    }
    return selected ? line.map((s) => ({ ...s, inverse: true })) : line;
  });
}

function splitSections(m: DashboardModel, width: number): Section[] {
  const label = Math.max(20, Math.min(width - 34, 40));
  return namespaceSplits(m).map((s) => {
    const total = s.backends.reduce((n, b) => n + b.rps, 0);
    return {
      title: `TrafficSplit ${s.name} (${s.apex})`,
      label,
      columns: `${cell("WEIGHT", 8)}${cell("SHARE", 8)}${cell("SUCCESS", 9)}RPS`,
      items: s.backends.map((b) => [
        seg(`  ${cell(b.name, label - 2)}`),
        seg(cell(`${Math.round(b.weight * 100)}%`, 8)),
        seg(cell(total > 0 ? `${((b.rps / total) * 100).toFixed(1)}%` : "-", 8), { bold: true }),
        seg(cell(pct(b.success), 9), { color: successColor(b.success) }),
        seg(rps(b.rps)),
      ]),
    };
  });
}

function edgeSection(m: DashboardModel, width: number): Section | undefined {
  if (!m.selected) return undefined;
  const edges = selectedEdges(m);
  const label = Math.min(40, Math.floor(width / 2));
  return {
    title: `Edges of ${m.selected}${edges.length === 0 ? ": none seen yet" : ""}`,
    items: edges.map((e) => {
      const line: Line = [seg(`  ${cell(`${e.src} → ${e.dst}`, label - 2)}`)];
      if (e.secured !== true) return [...line, seg(`× ${e.secured}`, { color: "red" })];
      line.push(seg("√ mTLS", { color: "green" }));
      // The peer's identity, where it fits whole: the server's for a call out, the client's for one in.
      const peer = e.src === m.selected ? e.serverId : e.clientId;
      if (peer && label + 7 + chars(peer).length <= width) line.push(seg(` ${peer}`, { dim: true }));
      return line;
    }),
  };
}

function routeSection(m: DashboardModel, width: number): Section | undefined {
  const routes = selectedRoutes(m);
  if (!m.selected || routes.length === 0) return undefined;
  const label = Math.max(16, Math.min(width - 37, 40));
  return {
    title: `Routes of ${m.selected}`,
    label,
    columns: `${cell("SUCCESS", 9)}${cell("RPS", 10)}${cell("RETRIES", 10)}P99`,
    items: routes.map((r) => [
      seg(`  ${cell(r.route, label - 2)}`),
      seg(cell(pct(r.success), 9), { color: successColor(r.success) }),
      seg(cell(rps(r.rps), 10)),
      seg(cell(r.retriesPerSecond === undefined ? "-" : `${r.retriesPerSecond.toFixed(1)}/s`, 10), {
        color: r.retriesPerSecond ? "yellow" : undefined,
      }),
      seg(ms(r.latencyMsP99)),
    ]),
  };
}

function helpLine(m: DashboardModel): Line {
  const line: Line = [seg("↑↓ select · n namespace · s sort:", { dim: true })];
  for (const k of SORT_KEYS) {
    line.push(seg(" ", { dim: true }));
    line.push(k === m.sort ? seg(k, { bold: true, inverse: true }) : seg(k, { dim: true }));
  }
  line.push(seg(" · q quit", { dim: true }));
  return line;
}

/** The dashboard's lines for a terminal of `o.width` × `o.height`. */
export function screen(m: DashboardModel, o: ScreenOptions): Line[] {
  const { width, height } = o;
  const at = m.namespace === undefined ? 0 : m.namespaces.indexOf(m.namespace) + 1;
  const header: Line = [
    seg("Trellis", { bold: true }),
    seg(` · namespace ${m.namespace ?? "-"} (${at}/${m.namespaces.length})`),
    seg(` · sorted by ${m.sort}`),
  ];
  const tail: Line[] = [];
  if (m.error) tail.push([seg(`refresh failed: ${m.error}`, { color: "red" })]);
  else if (m.snapshot.problem) tail.push([seg(m.snapshot.problem, { color: "red" })]);
  if (o.note) tail.push([seg(o.note, { dim: true })]);
  tail.push(helpLine(m));

  const cols = tableColumns(m, width);
  const table = tableLines(m, cols);
  const sections = [...splitSections(m, width), edgeSection(m, width), routeSection(m, width)].filter(
    (s): s is Section => s !== undefined,
  );

  const avail = Math.max(height - 2 - tail.length, 0);
  const sectionMin = sections.reduce((n, s) => n + 1 + Math.min(s.items.length, 1), 0);
  const sectionWant = sections.reduce((n, s) => n + 1 + s.items.length, 0);
  // Sections may claim up to half the lines (more only for one line each) when the workloads need the rest.
  const gap = sections.length > 0 ? 1 : 0;
  const reserve = Math.max(Math.min(sectionWant, Math.floor(avail / 2)), sectionMin) + gap;
  const shown = Math.min(table.length, avail, Math.max(Math.min(table.length, 3), avail - reserve));
  // The workloads scroll so the selection stays in view.
  const selectedAt = visibleRows(m).findIndex((r) => r.name === m.selected);
  const first = Math.min(Math.max(selectedAt - Math.floor(shown / 2), 0), table.length - shown);
  let left = avail - shown;
  const blank = sections.length > 0 && left - 1 >= sectionMin ? 1 : 0;
  left -= blank;
  // Every section's header first, then one item of each in turn while lines are left.
  const counts = sections.map(() => 0);
  const headers = Math.min(sections.length, left);
  left -= headers;
  for (let more = true; more && left > 0; ) {
    more = false;
    sections.forEach((s, i) => {
      if (i < headers && left > 0 && (counts[i] ?? 0) < s.items.length) {
        counts[i] = (counts[i] ?? 0) + 1;
        left--;
        more = true;
      }
    });
  }
  const body: Line[] = [];
  sections.slice(0, headers).forEach((s, i) => {
    const hidden = s.items.length - (counts[i] ?? 0);
    if (i > 0 && left > 0) {
      body.push([seg(" ")]);
      left--;
    }
    body.push(sectionHeader(s, hidden));
    body.push(...s.items.slice(0, counts[i]));
  });
  const lines = [
    header,
    tableHeader(cols),
    ...table.slice(first, first + shown),
    ...(blank ? [[seg(" ")]] : []),
    ...body,
    ...tail,
  ];
  return lines.slice(0, Math.max(height, 0)).map((l) => clip(l, width));
}
