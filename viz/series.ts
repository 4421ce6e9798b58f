/**
 * The one shape both metric sources answer in, and the pure arithmetic the direct scrape needs to
 * answer like Prometheus: label matching, `sum by`, a counter's increase between two scrapes, and
 * `histogram_quantile` over bucket increases.
 */
import type { Sample } from "./prometheus.js";

/** A label equal to a value, or (`{ re }`) matching a regular expression anchored as PromQL anchors it. */
export type Matcher = string | { re: string };
export type Matchers = Record<string, Matcher>;

/** One element of an instant vector: the grouping labels and a value. */
export interface Series {
  labels: Record<string, string>;
  value: number;
}

export function matches(labels: Record<string, string>, match: Matchers): boolean {
  for (const [name, m] of Object.entries(match)) {
    const v = labels[name] ?? "";
    if (typeof m === "string" ? v !== m : !new RegExp(`^(?:${m.re})$`).test(v)) return false;
  }
  return true;
}

const keyOf = (labels: Record<string, string>, by: readonly string[]) =>
  JSON.stringify(by.map((l) => labels[l] ?? ""));
const pick = (labels: Record<string, string>, by: readonly string[]) => {
  const out: Record<string, string> = {};
  for (const l of by) if (labels[l] !== undefined && labels[l] !== "") out[l] = labels[l] as string;
  return out;
};

/** `sum(metric{match}) by (by)` over one scrape's samples. */
export function sumBy(
  samples: readonly Sample[],
  metric: string,
  match: Matchers,
  by: readonly string[],
): Series[] {
  const out = new Map<string, Series>();
  for (const s of samples) {
    if (s.name !== metric || !matches(s.labels, match)) continue;
    const k = keyOf(s.labels, by);
    const row = out.get(k) ?? { labels: pick(s.labels, by), value: 0 };
    row.value += s.value;
    out.set(k, row);
  }
  return [...out.values()];
}

/**
 * `sum(increase(metric{match}[W])) by (by)` from the samples at the start and the end of the window:
 * each series' increase, a series that went down (its proxy restarted) counting from zero.
 */
export function increaseBy(
  before: readonly Sample[],
  after: readonly Sample[],
  metric: string,
  match: Matchers,
  by: readonly string[],
): Series[] {
  const start = new Map<string, number>();
  const seriesKey = (s: Sample) =>
    JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  for (const s of before) if (s.name === metric) start.set(seriesKey(s), s.value);
  const deltas = after
    .filter((s) => s.name === metric && matches(s.labels, match))
    .map((s) => {
      const was = start.get(seriesKey(s)) ?? 0;
      return { ...s, value: s.value >= was ? s.value - was : s.value };
    });
  return sumBy(deltas, metric, {}, by);
}

/** Prometheus's histogram_quantile over cumulative bucket counts: linear inside the bucket holding the rank. */
export function quantile(q: number, cumulative: ReadonlyMap<number, number>): number | undefined {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const count = cumulative.get(Number.POSITIVE_INFINITY) ?? 0;
  if (count <= 0) return undefined;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bound of bounds) {
    const c = cumulative.get(bound) ?? 0;
    if (c >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lowerBound;
      return lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / Math.max(c - lowerCount, 1e-9);
    }
    lowerBound = bound;
    lowerCount = c;
  }
  return lowerBound;
}

/** `histogram_quantile(q, sum(increase(metric_bucket{match}[W])) by (le, by))`, one value per group with observations. */
export function quantileBy(q: number, bucketIncreases: readonly Series[], by: readonly string[]): Series[] {
  const groups = new Map<string, { labels: Record<string, string>; buckets: Map<number, number> }>();
  for (const s of bucketIncreases) {
    const k = keyOf(s.labels, by);
    const g = groups.get(k) ?? { labels: pick(s.labels, by), buckets: new Map<number, number>() };
    const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    g.buckets.set(le, (g.buckets.get(le) ?? 0) + s.value);
    groups.set(k, g);
  }
  const out: Series[] = [];
  for (const g of groups.values()) {
    const v = quantile(q, g.buckets);
    if (v !== undefined) out.push({ labels: g.labels, value: v });
  }
  return out;
}
