/**
 * Counters and histograms for the request hot path. prom-client validates and hashes a label object
 * on every call; here each series is found by a short key the caller builds from ids it already has,
 * and label objects are only made when a series first appears. Registered in the proxy's registry as
 * ordinary metrics, rendered by prom-client at scrape time.
 */
import type { Registry } from "prom-client";

type Labels = Record<string, string>;

interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

abstract class SeriesMetric {
  abstract readonly type: "counter" | "histogram";
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }
  abstract samples(): Sample[];
  /** What prom-client's registry reads at scrape time. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values: this.samples() };
  }
}

export class SeriesCounter extends SeriesMetric {
  readonly type = "counter";
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  /** Adds `by` to the series named `key`; `labels` is called once, when the series is new. */
  inc(key: string, labels: () => Labels, by = 1): void {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), value: 0 };
      this.series.set(key, s);
    }
    s.value += by;
  }

  samples(): Sample[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
  }
}

export class SeriesHistogram extends SeriesMetric {
  readonly type = "histogram";
  private readonly series = new Map<
    string,
    { labels: Labels; counts: Float64Array; sum: number; count: number }
  >();

  constructor(
    name: string,
    help: string,
    registry: Registry,
    /** Upper bounds, ascending. */
    private readonly buckets: readonly number[],
  ) {
    super(name, help, registry);
  }

  observe(key: string, labels: () => Labels, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const v = Number.isFinite(value) ? value : 0;
    const i = this.buckets.findIndex((bound) => v <= bound);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += v;
    s.count++;
  }

  samples(): Sample[] {
    const out: Sample[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += s.counts[i] ?? 0;
        out.push({
          metricName: `${this.name}_bucket`,
          labels: { ...s.labels, le: String(bound) },
          value: cumulative,
        });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: "+Inf" }, value: s.count });
      out.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return out;
  }
}
