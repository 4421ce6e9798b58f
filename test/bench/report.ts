/**
 * Turns the measurements into the printed report: a table per path, the ratios against nginx measured
 * in the same run beside their goals, and the one summary line tools parse (always the last line). A
 * run in which any path answered an error (a socket error, a timeout, a 5xx) or a Trellis proxy carried
 * anything without mTLS is invalid: it measured something else than the mesh, so its summary line says
 * `INVALID` and why, and gives no ratio.
 */
import { GOALS } from "./params.js";
import type { WrkResult } from "./wrk.js";

export type PathName = "direct" | "nginx" | "trellis" | "trellis-opaque";

/** Everything measured on one path. */
export interface PathResult {
  name: PathName;
  /** What the load generator talks to, and what sits between it and the backend. */
  description: string;
  latency: WrkResult;
  throughput: WrkResult;
  /** The larger of the two sidecars, MiB; undefined for the direct path. */
  rssIdleMb?: number;
  rssLoadedMb?: number;
  /** The busier sidecar's CPU time (user + system) per request of the throughput phase, µs. */
  cpuUsPerRequest?: number;
  /** Requests (or connections, opaque) the client proxy sent without mTLS; undefined without a proxy. */
  plaintext?: number;
}

/** Why the run cannot be compared: one reason per path with errors or plaintext; empty when valid. */
export function invalidity(results: readonly PathResult[]): string[] {
  const reasons: string[] = [];
  for (const r of results) {
    const errors = r.latency.errors + r.throughput.errors;
    if (errors > 0) reasons.push(`${r.name}: ${errors} error${errors === 1 ? "" : "s"}`);
    if (r.plaintext !== undefined && r.plaintext > 0) reasons.push(`${r.name}: ${r.plaintext} without mTLS`);
  }
  return reasons;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

function combineWrk(runs: WrkResult[]): WrkResult {
  return {
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

/**
 * One path's rounds as one result: the median of each latency, rate and CPU figure, errors and
 * requests summed, the largest loaded RSS.
 */
export function combineRounds(rounds: readonly PathResult[]): PathResult {
  const first = rounds[0];
  if (!first) throw new Error("no rounds to combine");
  const defined = (values: (number | undefined)[]) => values.filter((v): v is number => v !== undefined);
  const cpu = defined(rounds.map((r) => r.cpuUsPerRequest));
  const loaded = defined(rounds.map((r) => r.rssLoadedMb));
  return {
    name: first.name,
    description: first.description,
    latency: combineWrk(rounds.map((r) => r.latency)),
    throughput: combineWrk(rounds.map((r) => r.throughput)),
    ...(loaded.length > 0 ? { rssLoadedMb: Math.max(...loaded) } : {}),
    ...(cpu.length > 0 ? { cpuUsPerRequest: median(cpu) } : {}),
  };
}

const NO_RATIOS = "p50_added_vs_nginx=n/a throughput_vs_nginx=n/a rss_idle_mb=n/a rss_loaded_mb=n/a";

export interface Summary {
  p50AddedVsNginx: number;
  throughputVsNginx: number;
  rssIdleMb: number;
  rssLoadedMb: number;
  /**
   * Against the Node floor, the same proxies carrying the backend as opaque TCP (no HTTP awareness),
   * when that path ran: its rps against nginx's, and Trellis' rps against its.
   */
  floor?: { throughputVsNginx: number; trellisVsFloor: number };
}

export function summarize(results: readonly PathResult[]): Summary | undefined {
  const by = (name: PathName) => results.find((r) => r.name === name);
  const direct = by("direct");
  const nginx = by("nginx");
  const trellis = by("trellis");
  const floor = by("trellis-opaque");
  if (!direct || !nginx || !trellis) return undefined;
  return {
    p50AddedVsNginx:
      (trellis.latency.p50Ms - direct.latency.p50Ms) / (nginx.latency.p50Ms - direct.latency.p50Ms),
    throughputVsNginx: trellis.throughput.rps / nginx.throughput.rps,
    rssIdleMb: trellis.rssIdleMb ?? Number.NaN,
    rssLoadedMb: trellis.rssLoadedMb ?? Number.NaN,
    ...(floor
      ? {
          floor: {
            throughputVsNginx: floor.throughput.rps / nginx.throughput.rps,
            trellisVsFloor: trellis.throughput.rps / floor.throughput.rps,
          },
        }
      : {}),
  };
}

const fmt = (n: number | undefined, digits = 3) =>
  n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The whole report; the summary line is last. */
export function render(
  results: readonly PathResult[],
  header: string,
  notes: string[],
  missing?: string,
): string {
  const rows = [
    [
      "PATH",
      "P50_MS",
      "P99_MS",
      "P50_ADDED_MS",
      "RPS_C32",
      "ERRORS",
      "CPU_US_REQ",
      "RSS_IDLE_MB",
      "RSS_LOADED_MB",
      "VIA",
    ],
  ];
  const direct = results.find((r) => r.name === "direct");
  for (const r of results) {
    rows.push([
      r.name,
      fmt(r.latency.p50Ms),
      fmt(r.latency.p99Ms),
      direct ? fmt(r.latency.p50Ms - direct.latency.p50Ms) : "-",
      fmt(r.throughput.rps, 0),
      String(r.latency.errors + r.throughput.errors),
      fmt(r.cpuUsPerRequest, 0),
      fmt(r.rssIdleMb, 1),
      fmt(r.rssLoadedMb, 1),
      r.description,
    ]);
  }
  const lines = [header, "", table(rows), ""];
  if (notes.length > 0) lines.push(...notes, "");
  const invalid = invalidity(results);
  const s = summarize(results);
  if (invalid.length > 0) {
    lines.push(`not compared: the run is invalid (${invalid.join("; ")})`, "");
    lines.push(`bench: INVALID (${invalid.join("; ")}) ${NO_RATIOS}`);
  } else if (s) {
    const verdict = (ok: boolean) => (ok ? "meets goal" : "MISSES goal");
    lines.push(
      table([
        ["RATIO", "VALUE", "GOAL", ""],
        [
          "trellis added p50 / nginx added p50",
          fmt(s.p50AddedVsNginx, 2),
          `<= ${GOALS.p50AddedVsNginx}`,
          verdict(s.p50AddedVsNginx <= GOALS.p50AddedVsNginx),
        ],
        [
          "trellis rps / nginx rps",
          fmt(s.throughputVsNginx, 2),
          `>= ${GOALS.throughputVsNginx}`,
          verdict(s.throughputVsNginx >= GOALS.throughputVsNginx),
        ],
        [
          "trellis proxy RSS idle (MiB)",
          fmt(s.rssIdleMb, 1),
          `<= ${GOALS.rssIdleMb}`,
          verdict(s.rssIdleMb <= GOALS.rssIdleMb),
        ],
        [
          "trellis proxy RSS loaded (MiB)",
          fmt(s.rssLoadedMb, 1),
          `<= ${GOALS.rssLoadedMb}`,
          verdict(s.rssLoadedMb <= GOALS.rssLoadedMb),
        ],
        ...(s.floor
          ? [
              ["node floor rps / nginx rps", fmt(s.floor.throughputVsNginx, 2), "-", "reference"],
              ["trellis rps / node floor rps", fmt(s.floor.trellisVsFloor, 2), "-", "reference"],
            ]
          : []),
      ]),
      "",
    );
    lines.push(
      `bench: p50_added_vs_nginx=${fmt(s.p50AddedVsNginx, 2)} throughput_vs_nginx=${fmt(s.throughputVsNginx, 2)} ` +
        `rss_idle_mb=${fmt(s.rssIdleMb, 1)} rss_loaded_mb=${fmt(s.rssLoadedMb, 1)}`,
    );
  } else {
    lines.push(`not measured: ${missing ?? "a path is missing"}`, "");
    lines.push(`bench: ${NO_RATIOS}`);
  }
  return lines.join("\n");
}
