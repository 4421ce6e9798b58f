/**
 * The Prometheus source: PromQL as Linkerd's viz metrics API writes it, over Prometheus's HTTP API
 * (`/api/v1/query`). The query text is built by pure functions so tests can pin it.
 */
import type { Matchers, Series } from "./series.js";
import { type MetricsSource, SourceError } from "./source.js";

const quote = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/** `{a="x",b=~"y"}`, or "" without matchers. */
export function selector(match: Matchers): string {
  const parts = Object.entries(match).map(([k, m]) =>
    typeof m === "string" ? `${k}="${quote(m)}"` : `${k}=~"${quote(m.re)}"`,
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

const byClause = (by: readonly string[]) => `by (${by.join(", ")})`;

export function increaseQuery(
  metric: string,
  match: Matchers,
  by: readonly string[],
  windowS: number,
): string {
  return `sum(increase(${metric}${selector(match)}[${windowS}s])) ${byClause(by)}`;
}

/** Linkerd writes `irate`; the window's `rate` is used instead so the answer covers the same window as the direct scrape's. */
export function quantileQuery(
  q: number,
  metric: string,
  match: Matchers,
  by: readonly string[],
  windowS: number,
): string {
  return `histogram_quantile(${q}, sum(rate(${metric}_bucket${selector(match)}[${windowS}s])) ${byClause(["le", ...by])})`;
}

export function currentQuery(metric: string, match: Matchers, by: readonly string[]): string {
  return `sum(${metric}${selector(match)}) ${byClause(by)}`;
}

interface VectorResponse {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** What one request to Prometheus's HTTP API got: an answer with its status, or why there is none. */
export type PrometheusAnswer = { status: number; body: string } | { unreachable: string };

/**
 * How the source reaches Prometheus: GETs a URL under its base. Straight over HTTP by default; in a
 * cluster through the API server's service proxy, with the kubeconfig's credentials.
 */
export type PrometheusTransport = (url: string) => Promise<PrometheusAnswer>;

const httpTransport: PrometheusTransport = async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    return { unreachable: c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message };
  }
};

export interface PrometheusOptions {
  /** Default: plain HTTP to the base URL. */
  transport?: PrometheusTransport;
  /** What to do when Prometheus is unreachable, ending that message; default: check --prometheus-url. */
  unreachableHint?: string;
  /** How messages name this Prometheus; default `Prometheus at <base>`. */
  description?: string;
}

export class PrometheusSource implements MetricsSource {
  readonly description: string;
  private readonly base: string;
  private readonly transport: PrometheusTransport;
  private readonly unreachableHint: string;

  constructor(
    url: string,
    readonly windowSeconds: number,
    options: PrometheusOptions = {},
  ) {
    this.base = url.replace(/\/+$/, "");
    this.description = options.description ?? `Prometheus at ${this.base}`;
    this.transport = options.transport ?? httpTransport;
    this.unreachableHint = options.unreachableHint ?? "check --prometheus-url";
  }

  private async get(path: string): Promise<unknown> {
    const answer = await this.transport(`${this.base}${path}`);
    if ("unreachable" in answer)
      throw new SourceError(
        `${this.description} is unreachable (${answer.unreachable}); ${this.unreachableHint}`,
      );
    let body: VectorResponse | undefined;
    try {
      body = JSON.parse(answer.body) as VectorResponse;
    } catch {
      body = undefined;
    }
    if (answer.status < 200 || answer.status >= 300 || body?.status !== "success")
      throw new SourceError(
        `${this.description} answered ${answer.status}: ${body?.error ?? "not the Prometheus API"}`,
      );
    return body.data;
  }

  async query(promql: string): Promise<Series[]> {
    const data = (await this.get(
      `/api/v1/query?query=${encodeURIComponent(promql)}`,
    )) as VectorResponse["data"];
    return (data?.result ?? [])
      .map((r) => ({ labels: r.metric, value: Number(r.value[1]) }))
      .filter((s) => !Number.isNaN(s.value));
  }

  /** The shortest scrape interval among active targets, in seconds (undefined without targets). */
  async scrapeIntervalSeconds(): Promise<number | undefined> {
    const data = (await this.get("/api/v1/targets?state=active")) as {
      activeTargets?: { scrapeInterval?: string }[];
    };
    const intervals = (data.activeTargets ?? [])
      .map((t) => parseDuration(t.scrapeInterval ?? ""))
      .filter((s): s is number => s !== undefined);
    return intervals.length ? Math.min(...intervals) : undefined;
  }

  increase(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    return this.query(increaseQuery(metric, match, by, this.windowSeconds));
  }

  quantile(q: number, metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    return this.query(quantileQuery(q, metric, match, by, this.windowSeconds));
  }

  current(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    return this.query(currentQuery(metric, match, by));
  }
}

/** Durations as Prometheus and `-t` write them: 90s, 1m, 1m30s, 2h, 500ms. Seconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * (unit[m[2] as string] ?? 0);
    matched += m[0].length;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}
