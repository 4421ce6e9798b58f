/**
 * The proxy's metric types. On the request hot path a client library validates and hashes a label
 * object on every call; here each series is found by a short key the caller builds from ids it
 * already has, and the label object is only made, and formatted once for the exposition, when the
 * series first appears. The sidecar renders them itself (./exposition.ts) rather than through
 * prom-client, which would cost it ~1.6 MiB of idle RSS.
 */
import { type Family, labelText, type Registry, sampleLine } from "./exposition.js";

type Labels = Record<string, string>;

/** What a sweep keeps of a series to tell whether it moved: its progress then, and since when. */
interface Swept {
  /** The series' progress (value, or observation count) at the sweep that last saw it move. */
  mark: number;
  /** When that sweep ran (performance.now(), ms). */
  since: number;
}

interface Series extends Swept {
  /** The label set, formatted for the exposition (`a="1",b="2"`). */
  labels: string;
  value: number;
}

/**
 * Drops the series that have not moved for `retainMs` (Linkerd's retain-idle: a pod long gone, an
 * authority no longer asked for), unless `keep` spares one. A series that comes back starts again
 * from 0, which Prometheus reads as a counter reset.
 */
function sweepSeries<S extends Swept>(
  series: Map<string, S>,
  now: number,
  retainMs: number,
  progress: (s: S) => number,
  keep?: (key: string, s: S) => boolean,
): void {
  for (const [key, s] of series) {
    const p = progress(s);
    if (p !== s.mark) {
      s.mark = p;
      s.since = now;
    } else if (now - s.since >= retainMs && !keep?.(key, s)) series.delete(key);
  }
}

abstract class SeriesMetric implements Family {
  abstract readonly type: "counter" | "gauge" | "histogram";
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.register(this);
  }
  abstract writeSamples(out: string[]): void;
  abstract sweep(now: number, retainMs: number): void;
}

/** Series of one value each, in the order they appeared. */
abstract class ValueSeries extends SeriesMetric {
  private readonly series = new Map<string, Series>();

  constructor(
    name: string,
    help: string,
    registry: Registry,
    /** Which series a sweep keeps even when they have not moved (those of a connection still open). */
    private readonly spare?: (key: string) => boolean,
  ) {
    super(name, help, registry);
  }

  /** The series named `key`; `labels` is called once, when the series is new. */
  protected find(key: string, labels: () => Labels): Series {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labelText(labels()), value: 0, mark: Number.NaN, since: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** The value of the series named `key`, 0 when there is none. */
  current(key: string): number {
    return this.series.get(key)?.value ?? 0;
  }

  /** Whether a series that stopped moving is kept all the same. */
  protected keep(key: string, _s: Series): boolean {
    return this.spare?.(key) ?? false;
  }

  override sweep(now: number, retainMs: number): void {
    sweepSeries(
      this.series,
      now,
      retainMs,
      (s) => s.value,
      (key, s) => this.keep(key, s),
    );
  }

  writeSamples(out: string[]): void {
    for (const s of this.series.values()) out.push(sampleLine(this.name, s.labels, s.value));
  }
}

export class SeriesCounter extends ValueSeries {
  readonly type = "counter";

  /** Adds `by` to the series named `key`; `labels` is called once, when the series is new. */
  inc(key: string, labels: () => Labels, by = 1): void {
    this.find(key, labels).value += by;
  }
}

/** A value per label set that goes up and down (open connections): a sweep drops only a series at 0. */
export class SeriesGauge extends ValueSeries {
  readonly type = "gauge";

  protected override keep(key: string, s: Series): boolean {
    return s.value !== 0 || super.keep(key, s);
  }

  set(key: string, labels: () => Labels, value: number): void {
    this.find(key, labels).value = value;
  }

  inc(key: string, labels: () => Labels, by = 1): void {
    this.find(key, labels).value += by;
  }

  dec(key: string, labels: () => Labels, by = 1): void {
    this.find(key, labels).value -= by;
  }
}

export class SeriesHistogram extends SeriesMetric {
  readonly type = "histogram";
  private readonly series = new Map<
    string,
    Swept & { labels: string; counts: Float64Array; sum: number; count: number }
  >();
  /** `le="…"` per bucket, then `le="+Inf"`: formatted once. */
  private readonly le: string[];

  constructor(
    name: string,
    help: string,
    registry: Registry,
    /** Upper bounds, ascending. */
    private readonly buckets: readonly number[],
  ) {
    super(name, help, registry);
    this.le = [...buckets.map((bound) => `le="${bound}"`), 'le="+Inf"'];
  }

  observe(key: string, labels: () => Labels, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = {
        labels: labelText(labels()),
        counts: new Float64Array(this.buckets.length),
        sum: 0,
        count: 0,
        mark: Number.NaN,
        since: 0,
      };
      this.series.set(key, s);
    }
    const v = Number.isFinite(value) ? value : 0;
    const i = this.buckets.findIndex((bound) => v <= bound);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += v;
    s.count++;
  }

  override sweep(now: number, retainMs: number): void {
    sweepSeries(this.series, now, retainMs, (s) => s.count);
  }

  writeSamples(out: string[]): void {
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      const prefix = s.labels === "" ? "" : `${s.labels},`;
      let cumulative = 0;
      this.le.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        // The +Inf bucket counts every observation, whichever bucket (or none) took it.
        out.push(sampleLine(bucket, prefix + le, i < this.buckets.length ? cumulative : s.count));
      });
      out.push(sampleLine(`${this.name}_sum`, s.labels, s.sum));
      out.push(sampleLine(`${this.name}_count`, s.labels, s.count));
    }
  }
}

/**
 * A metric with no labels (the certificate's expiry, its refresh count): one value, rendered as 0
 * until first set, as Prometheus clients render a labelless metric.
 */
abstract class PlainMetric implements Family {
  abstract readonly type: "counter" | "gauge";
  protected value = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.register(this);
  }
  writeSamples(out: string[]): void {
    out.push(sampleLine(this.name, "", this.value));
  }
}

export class PlainCounter extends PlainMetric {
  readonly type = "counter";
  inc(by = 1): void {
    this.value += by;
  }
}

export class PlainGauge extends PlainMetric {
  readonly type = "gauge";
  set(value: number): void {
    this.value = value;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}
