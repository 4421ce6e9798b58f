/**
 * The soak run: a steady, bounded request rate through a client proxy to two meshed pods found through
 * the real destination service (local store), while the store's endpoints churn every few seconds and
 * every proxy renews its certificate every minute (TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS). Every
 * sample reads each proxy's RSS (/proc/<pid>/status) and open file descriptors (/proc/<pid>/fd) and
 * the window's p99 latency. `npm run soak` (run.ts) prints the table; soak.test.ts asserts its shape.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { discoveringClient, put, serviceYaml, startLocalDestination } from "../support/local-destination.js";
import { freePort, NAMESPACE, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";

export interface SoakOptions {
  minutes: number;
  /** Requests per second offered (at most `maxInFlight` at once; the rest are counted as skipped). */
  rate?: number;
  maxInFlight?: number;
  /** Seconds between samples and between endpoint changes. */
  sampleSeconds?: number;
  churnSeconds?: number;
  /** Each sample as it is taken (run.ts prints them). */
  onSample?: (sample: Sample) => void;
}

export interface Sample {
  second: number;
  sent: number;
  failed: number;
  skipped: number;
  p99Ms: number;
  /** By proxy: client, server-a, server-b. */
  rssMb: Record<string, number>;
  fds: Record<string, number>;
  renewals: number;
}

export interface SoakResult {
  samples: Sample[];
  /** Samples after the warm-up (the first third of the run, at most five minutes). */
  steady: Sample[];
  sent: number;
  failed: number;
  failures: string[];
  /**
   * Per proxy: the median RSS of the last minute of steady samples over that of the first minute, minus
   * one. A median over six samples rides out the swings of garbage collection (±4 MiB in a 30-minute
   * run); growth moves it all the same.
   */
  rssGrowth: Record<string, number>;
  fdGrowth: Record<string, number>;
  endpointChanges: number;
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 102.4) / 10;
}

async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

function p99(latencies: number[]): number {
  if (latencies.length === 0) return 0;
  const sorted = [...latencies].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0);
}

async function pod(t: TestContext, mesh: TestMesh, ip: string, port: number): Promise<TestProxy> {
  const app = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((resolve) => app.listen(port, ip, resolve));
  t.after(() => {
    app.closeAllConnections();
    app.close();
  });
  return mesh.proxy("server", {
    inboundPorts: [port],
    env: {
      TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${ip}:0`,
      TRELLIS_PROXY_INBOUND_APP_HOST: ip,
      TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS: "60000",
    },
  });
}

export async function soak(t: TestContext, options: SoakOptions): Promise<SoakResult> {
  const rate = options.rate ?? 50;
  const maxInFlight = options.maxInFlight ?? 16;
  const sampleMs = (options.sampleSeconds ?? 10) * 1000;
  const churnMs = (options.churnSeconds ?? 7) * 1000;
  const totalMs = options.minutes * 60_000;

  const mesh = await startMesh(t);
  const port = await freePort();
  const a = await pod(t, mesh, "127.0.0.1", port);
  const b = await pod(t, mesh, "127.0.0.2", port);
  const store = join(mesh.dir, "store");
  await mkdir(store);
  const file = join(store, "web.yaml");
  // The endpoint sets the churn cycles through; never empty, so no request is left without one.
  const sets = [[a], [a, b], [b], [a, b]].map((pods) =>
    serviceYaml(
      "web",
      port,
      pods.map((proxy) => ({ ip: proxy === a ? "127.0.0.1" : "127.0.0.2", proxy })),
    ),
  );
  await put(file, sets[1] as string);
  const destination = await startLocalDestination(t, mesh, store);
  const client = await discoveringClient(mesh, destination, {
    TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS: "60000",
  });
  const proxies: Record<string, TestProxy> = { client, "server-a": a, "server-b": b };
  const authority = `web.${NAMESPACE}.svc.cluster.local`;
  const [host, outPort] = [client.outbound.split(":")[0], Number(client.outbound.split(":")[1])];
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  t.after(() => agent.destroy());

  let sent = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  let window: number[] = [];
  const failures: string[] = [];
  const one = () => {
    const start = performance.now();
    const n = ++sent;
    inFlight++;
    const done = (failure?: string) => {
      inFlight--;
      window.push(performance.now() - start);
      if (failure) {
        failed++;
        if (failures.length < 20) failures.push(`request ${n}: ${failure}`);
      }
    };
    const req = http.request(
      { host, port: outPort, path: `/s${n}`, agent, headers: { host: authority }, timeout: 30_000 },
      (res) => {
        res.resume();
        res.on("end", () =>
          done(
            res.statusCode === 200 ? undefined : `${res.statusCode} ${res.headers["trellis-proxy-error"]}`,
          ),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err) => done(err.message));
    req.end();
  };

  const samples: Sample[] = [];
  const started = Date.now();
  let endpointChanges = 0;
  // Every 50 ms, the requests due by now at `rate` per second.
  let due = 0;
  const sender = setInterval(() => {
    due += rate / 20;
    for (; due >= 1; due--) {
      if (inFlight < maxInFlight) one();
      else skipped++;
    }
  }, 50);
  const churn = setInterval(() => {
    endpointChanges++;
    void put(file, sets[endpointChanges % sets.length] as string);
  }, churnMs);
  try {
    for (let i = 1; i * sampleMs <= totalMs; i++) {
      await new Promise((r) => setTimeout(r, started + i * sampleMs - Date.now()));
      const rss: Record<string, number> = {};
      const fds: Record<string, number> = {};
      let renewals = 0;
      for (const [name, proxy] of Object.entries(proxies)) {
        const pid = proxy.child.process.pid as number;
        rss[name] = await rssMb(pid);
        fds[name] = await fdCount(pid);
        const metrics = await proxy.metrics();
        renewals += Number(/^identity_cert_refresh_count(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 0);
      }
      const sample = {
        second: Math.round((Date.now() - started) / 1000),
        sent,
        failed,
        skipped,
        p99Ms: p99(window),
        rssMb: rss,
        fds,
        renewals,
      };
      window = [];
      samples.push(sample);
      options.onSample?.(sample);
    }
  } finally {
    clearInterval(sender);
    clearInterval(churn);
  }
  // Let the requests in flight finish (bounded), so every one sent is counted.
  for (let i = 0; i < 600 && inFlight > 0; i++) await new Promise((r) => setTimeout(r, 50));

  const warmup = Math.min(Math.ceil(samples.length / 3), Math.ceil(300_000 / sampleMs));
  const steady = samples.slice(warmup);
  const first = steady[0];
  const last = steady[steady.length - 1];
  const rssGrowth: Record<string, number> = {};
  const fdGrowth: Record<string, number> = {};
  for (const name of Object.keys(proxies)) {
    const rss = steady.map((sample) => sample.rssMb[name] ?? 0);
    const k = Math.max(1, Math.min(Math.ceil(60_000 / sampleMs), Math.floor(rss.length / 3)));
    rssGrowth[name] = rss.length > 0 ? median(rss.slice(-k)) / Math.max(median(rss.slice(0, k)), 1) - 1 : 0;
    fdGrowth[name] = first && last ? (last.fds[name] ?? 0) - (first.fds[name] ?? 0) : 0;
  }
  return { samples, steady, sent, failed: failed + inFlight, failures, rssGrowth, fdGrowth, endpointChanges };
}

const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;

/** One sample as a table row (header: `tableHeader`). */
export function row(s: Sample): string {
  const cells = [s.second, s.sent, s.failed, s.skipped, s.p99Ms, s.renewals];
  for (const name of ["client", "server-a", "server-b"]) cells.push(s.rssMb[name] ?? 0, s.fds[name] ?? 0);
  return cells.map((c) => String(c).padStart(9)).join(" ");
}

export const tableHeader = [
  "second",
  "sent",
  "failed",
  "skipped",
  "p99 ms",
  "renewals",
  "client MB",
  "fds",
  "srv-a MB",
  "fds",
  "srv-b MB",
  "fds",
]
  .map((c) => c.padStart(9))
  .join(" ");

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/**
 * How far p99 drifted after warm-up: the median p99 of the last third of the steady samples over
 * that of the first third (1 is flat; NaN with fewer than three samples).
 */
export function p99Drift(r: SoakResult): number {
  const third = Math.floor(r.steady.length / 3);
  if (third === 0) return Number.NaN;
  const p99s = r.steady.map((s) => s.p99Ms);
  return median(p99s.slice(-third)) / Math.max(median(p99s.slice(0, third)), 0.1);
}

/** The summary line: whether the run held, and its figures. */
export function summary(r: SoakResult, minutes: number): string {
  const p99s = r.steady.map((s) => s.p99Ms);
  const drift = p99Drift(r);
  return (
    `soak ${minutes} min: ${r.sent} requests, ${r.failed} failed, ${r.endpointChanges} endpoint changes; ` +
    `RSS after warm-up ${Object.entries(r.rssGrowth)
      .map(([n, g]) => `${n} ${pct(g)}`)
      .join(", ")}; ` +
    `fds ${Object.entries(r.fdGrowth)
      .map(([n, g]) => `${n} ${g >= 0 ? "+" : ""}${g}`)
      .join(", ")}; ` +
    `p99 ${p99s.length ? `${Math.min(...p99s)}–${Math.max(...p99s)} ms` : "n/a"}` +
    `, drift ×${Number.isNaN(drift) ? "n/a" : drift.toFixed(2)} (last third's median over the first's)`
  );
}
