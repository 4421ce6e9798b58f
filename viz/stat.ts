/**
 * Golden metrics per workload, as `viz stat` shows them: success rate, requests per second and
 * latency percentiles from the workload's inbound metrics (what its callers experienced, as Linkerd
 * computes them), plus open connections. Pure functions over two scrapes taken some seconds apart.
 */
import type { Sample } from "./prometheus.js";
import { quantile } from "./series.js";

export { quantile };

/** One workload's proxy metrics at one moment. */
export interface Scrape {
  name: string;
  samples: Sample[];
  /** When it was taken, ms. */
  at: number;
}

export interface StatRow {
  name: string;
  meshed: boolean;
  /** 0..1, undefined without responses in the window. */
  success: number | undefined;
  rps: number;
  p50Ms: number | undefined;
  p95Ms: number | undefined;
  p99Ms: number | undefined;
  tcpConnections: number;
}

const inbound = (s: Sample) => s.labels.direction === "inbound";

function total(samples: Sample[], name: string, pred: (s: Sample) => boolean = () => true): number {
  let sum = 0;
  for (const s of samples) if (s.name === name && pred(s)) sum += s.value;
  return sum;
}

/** Cumulative bucket counts by upper bound (summed over label sets). */
function buckets(samples: Sample[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== "response_latency_ms_bucket" || !inbound(s)) continue;
    const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/** The row for one workload over the window between two scrapes. */
export function statRow(before: Scrape, after: Scrape): StatRow {
  const seconds = Math.max((after.at - before.at) / 1000, 1e-3);
  const delta = (name: string, pred?: (s: Sample) => boolean) =>
    Math.max(total(after.samples, name, pred) - total(before.samples, name, pred), 0);
  const responses = delta("response_total", inbound);
  const successes = delta("response_total", (s) => inbound(s) && s.labels.classification === "success");
  const b0 = buckets(before.samples);
  const window = new Map<number, number>();
  for (const [le, c] of buckets(after.samples)) window.set(le, Math.max(c - (b0.get(le) ?? 0), 0));
  return {
    name: after.name,
    meshed: after.samples.some((s) => s.name === "identity_cert_expiration_timestamp_seconds" && s.value > 0),
    success: responses > 0 ? successes / responses : undefined,
    rps: delta("request_total", inbound) / seconds,
    p50Ms: quantile(0.5, window),
    p95Ms: quantile(0.95, window),
    p99Ms: quantile(0.99, window),
    tcpConnections: total(after.samples, "tcp_open_connections", inbound),
  };
}

const pct = (v: number | undefined) => (v === undefined ? "-" : `${(v * 100).toFixed(2)}%`);
const ms = (v: number | undefined) => (v === undefined ? "-" : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`);

/** The table `viz stat` prints: NAME MESHED SUCCESS RPS LATENCY_P50 LATENCY_P95 LATENCY_P99 TCP_CONN. */
export function renderStatTable(rows: StatRow[]): string {
  const header = [
    "NAME",
    "MESHED",
    "SUCCESS",
    "RPS",
    "LATENCY_P50",
    "LATENCY_P95",
    "LATENCY_P99",
    "TCP_CONN",
  ];
  const cells = rows.map((r) => [
    r.name,
    r.meshed ? "1/1" : "0/1",
    pct(r.success),
    `${r.rps.toFixed(1)}rps`,
    ms(r.p50Ms),
    ms(r.p95Ms),
    ms(r.p99Ms),
    String(r.tcpConnections),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  return [header, ...cells]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}
