/**
 * Every number the benchmark depends on, in one place: load parameters, warm-up, sampling, the
 * identity of the bench workloads, and the goals printed beside the results (goals, not assertions).
 */

/** Set TRELLIS_BENCH_QUICK=1 for a development run: same shape, 3 s phases, numbers not comparable. */
export const QUICK = process.env.TRELLIS_BENCH_QUICK === "1";

const seconds = (full: number) => (QUICK ? Math.min(full, 3) : full);

/** One wrk run. */
export interface LoadPhase {
  threads: number;
  connections: number;
  durationS: number;
}

/**
 * Rounds of measurement. Each round measures every path once, paths interleaved, and the report shows
 * each path's median over the rounds: a machine whose speed drifts (shared cores, steal time) then
 * moves all paths' numbers together instead of favouring whichever path ran in a good moment.
 */
export const ROUNDS = QUICK ? 1 : 3;

export const LOAD = {
  /** Before the first round: the same traffic as the throughput phase, to warm JITs, pools and TLS sessions. */
  warmup: { threads: 2, connections: 32, durationS: seconds(3) },
  /** Latency, per round: one request at a time over one keep-alive connection (wrk -t1 -c1 --latency). */
  latency: { threads: 1, connections: 1, durationS: seconds(5) },
  /** Throughput, per round: as many requests as 32 keep-alive connections can push (wrk -t2 -c32). */
  throughput: { threads: 2, connections: 32, durationS: seconds(5) },
  /** wrk's per-request timeout; a request slower than this counts as a timeout error. */
  requestTimeoutS: 5,
} as const satisfies Record<string, LoadPhase | number>;

/** How often each sidecar's RSS is read from /proc/<pid>/status during the throughput phase. */
export const RSS_SAMPLE_MS = 100;
/** How long the proxies sit ready before their idle RSS is read. */
export const IDLE_SETTLE_MS = 1000;
/** Hard limit on the whole run; everything started is stopped when it passes. */
export const RUN_DEADLINE_MS = 10 * 60_000;

/** The bench workloads, as the mesh names them. */
export const MESH = {
  trustDomain: "cluster.local",
  namespace: "bench",
  clientServiceAccount: "client",
  serverServiceAccount: "server",
  /** What the load generator asks for; the client proxy routes it by this authority. */
  authority: "backend.bench.svc.cluster.local:80",
  host: "backend.bench.svc.cluster.local",
  /** The leaf lifetime the identity service issues during the bench (no renewal inside a run). */
  issuanceLifetime: "1h",
} as const;

/** The fixed body the backend returns for every request. */
export const BACKEND_BODY = "hello from the bench backend\n";

/** nginx sidecars and backend: one worker each, so one nginx sidecar is compared with one Node proxy. */
export const NGINX_WORKERS = 1;
/** Upstream keep-alive pool size of each nginx hop (idle connections kept per worker). */
export const NGINX_UPSTREAM_KEEPALIVE = 64;
/** Requests per keep-alive connection before nginx closes it; high, so no hop reconnects mid-run. */
export const NGINX_KEEPALIVE_REQUESTS = 1_000_000;

export const GOALS = {
  /** (trellis p50 − direct p50) / (nginx p50 − direct p50) at most this. */
  p50AddedVsNginx: 4,
  /** trellis rps / nginx rps at least this. */
  throughputVsNginx: 0.6,
  rssIdleMb: 60,
  rssLoadedMb: 100,
} as const;
