/**
 * Where viz reads metrics from. Both sources answer the same three questions about one window, in
 * PromQL's terms, so the rows are computed once whichever answered: Prometheus (./promql.ts) or a
 * direct scrape of proxies' admin endpoints at the window's start and end (./direct.ts).
 */
import type { Matchers, Series } from "./series.js";

export interface MetricsSource {
  /** What the numbers came from, for messages and JSON output. */
  readonly description: string;
  /** The window, in seconds. */
  readonly windowSeconds: number;
  /** `sum(increase(metric{match}[W])) by (by)`. */
  increase(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]>;
  /** `histogram_quantile(q, sum(rate(metric_bucket{match}[W])) by (le, by))`, in the histogram's unit. */
  quantile(q: number, metric: string, match: Matchers, by: readonly string[]): Promise<Series[]>;
  /** `sum(metric{match}) by (by)` at the end of the window (gauges). */
  current(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]>;
}

/** A source failed in a way the user can act on (unreachable, bad window): one line, exit 1. */
export class SourceError extends Error {
  override name = "SourceError";
}
