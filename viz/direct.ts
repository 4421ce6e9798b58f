/**
 * The direct source: every proxy's admin /metrics scraped at the start and at the end of the window,
 * answered with the same arithmetic Prometheus applies (./series.ts), increases included: what the
 * two scrapes saw is scaled to the window when a busy machine took longer between them, as
 * Prometheus extrapolates `increase` from the samples it has to the window's length. A target's labels (namespace,
 * pod, deployment) are added to its samples where the proxy did not set them, as a Prometheus scrape
 * config adds them (`honor_labels: true`).
 */
import { parsePrometheusText, type Sample } from "./prometheus.js";
import { increaseBy, type Matchers, quantileBy, type Series, sumBy } from "./series.js";
import { type MetricsSource, SourceError } from "./source.js";

/** One proxy to scrape. */
export interface ScrapeTarget {
  /** host:port of its admin server, or how messages name it when `url` says where its metrics are. */
  admin: string;
  /** Where its metrics are, when not `http://<admin>/metrics` (in a cluster, the API server's pod proxy). */
  url?: string;
  /** Labels added to each of its samples (the proxy's own labels win). */
  labels: Record<string, string>;
}

/** GETs a target's metrics text; throws when there is none. */
export type Fetcher = (url: string) => Promise<string>;

const defaultFetch: Fetcher = async (url) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
};

/** Labels every sample of one scrape with its target's labels. */
export function withTargetLabels(samples: Sample[], labels: Record<string, string>): Sample[] {
  return samples.map((s) => ({ ...s, labels: { ...labels, ...s.labels } }));
}

export class DirectSource implements MetricsSource {
  readonly description: string;
  private before: Sample[] = [];
  private after: Sample[] = [];
  /** What the increases between the scrapes are multiplied by to cover the window (1 when on time). */
  private toWindow = 1;

  constructor(
    private readonly targets: readonly ScrapeTarget[],
    readonly windowSeconds: number,
    private readonly fetchText: Fetcher = defaultFetch,
    description = `direct scrape of ${targets.length} proxies`,
  ) {
    this.description = description;
  }

  /**
   * Scrapes every target, waits the window, scrapes again; a proxy unreachable at both ends fails it.
   * `now` (ms) times the scrapes: each read its proxies between its request and its answer, so the
   * middles stand for when.
   */
  async collect(
    sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => number = () => performance.now(),
  ): Promise<void> {
    const windowMs = this.windowSeconds * 1000;
    const asked = now();
    this.before = await this.scrapeAll(true);
    const start = (asked + now()) / 2;
    await sleep(windowMs);
    const askedAgain = now();
    this.after = await this.scrapeAll(false);
    const elapsedMs = (askedAgain + now()) / 2 - start;
    this.toWindow = elapsedMs > windowMs ? windowMs / elapsedMs : 1;
  }

  /** One scrape standing for both ends: enough for `current`, the lifetime counters edges read. */
  async snapshot(): Promise<void> {
    this.before = await this.scrapeAll(true);
    this.after = this.before;
  }

  private async scrapeAll(first: boolean): Promise<Sample[]> {
    const results = await Promise.all(
      this.targets.map(async (t) => {
        try {
          return withTargetLabels(
            parsePrometheusText(await this.fetchText(t.url ?? `http://${t.admin}/metrics`)),
            t.labels,
          );
        } catch (err) {
          return err as Error;
        }
      }),
    );
    const failed = results.filter((r): r is Error => r instanceof Error);
    if (first && failed.length === results.length && failed[0])
      throw new SourceError(`no proxy answered on its admin port (${failed[0].message})`);
    return results.flatMap((r) => (r instanceof Error ? [] : r));
  }

  async increase(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    const seen = increaseBy(this.before, this.after, metric, match, by);
    return this.toWindow === 1 ? seen : seen.map((s) => ({ ...s, value: s.value * this.toWindow }));
  }

  async quantile(q: number, metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    const buckets = increaseBy(this.before, this.after, `${metric}_bucket`, match, [...by, "le"]);
    return quantileBy(q, buckets, by);
  }

  async current(metric: string, match: Matchers, by: readonly string[]): Promise<Series[]> {
    return sumBy(this.after, metric, match, by);
  }
}
