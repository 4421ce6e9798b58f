/**
 * Destination fan-out benchmark: `npx tsx test/bench/destination.ts` (TRELLIS_BENCH_STREAMS=N to
 * change the 1,000). The real `trellis-controller destination` runs as its own process on a local
 * directory (dist/control/main.js when built, else control/main.ts through tsx); this process opens
 * the Get streams, spread over 100 connections like 100 proxies, all on one Service.
 *
 * Measured, in one run:
 * - baseline: one stream alone, an endpoint added by rewriting the file (atomic rename), time until
 *   the stream has it; the median of several changes;
 * - fan-out: N streams, the same change, time until each stream has it: p50, p99 and max over
 *   every stream and change, and the spread (last stream minus first stream of a change), which is
 *   what the fan-out itself costs;
 * - memory: the controller's RSS with N streams open minus its RSS before, divided by N;
 * - the controller's CPU time per change (from /proc), to tell its share of the spread from the
 *   share of this process, which decodes all N streams on one thread.
 * Times start at the rename, so they include the file watch and the source's 20 ms debounce.
 * Prints the figures and the ratios to the baseline. Exit 0 when measured, 1 when not.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Child } from "../../cli/demo/supervisor.js";
import { DestinationClient, type Update } from "../../control/api/gen/trellis/destination/v1/destination.js";
import { rssMb } from "./rss.js";

const STREAMS = Number(process.env.TRELLIS_BENCH_STREAMS ?? 1000);
const CONNECTIONS = Math.min(100, STREAMS);
const CHANGES = 5;
const BASELINE_CHANGES = 7;
const WAIT_MS = 60_000;
const SETTLE_MS = 1_000;
const root = new URL("../..", import.meta.url).pathname;

function serviceYaml(endpoints: string[]): string {
  return `${JSON.stringify({
    apiVersion: "local.trellis.dev/v1",
    kind: "Service",
    metadata: { name: "web", namespace: "bench" },
    spec: {
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
      endpoints: endpoints.map((address, i) => ({
        address,
        pod: `web-${i}`,
        deployment: "web",
        serviceAccount: "web",
      })),
    },
  })}\n`;
}

async function writeAtomically(dir: string, text: string): Promise<void> {
  const tmp = join(dir, `.web.yaml.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, "web.yaml"));
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
/** CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stream that records when each endpoint address first arrives. */
class Stream {
  readonly seen = new Map<string, number>();
  private resolveFirst!: () => void;
  readonly first = new Promise<void>((resolve) => {
    this.resolveFirst = resolve;
  });
  private waiter: { ip: string; resolve: () => void } | undefined;
  readonly call: grpc.ClientReadableStream<Update>;

  constructor(client: DestinationClient) {
    this.call = client.get({ authority: "web.bench.svc.cluster.local:80", contextNamespace: "" });
    this.call.on("data", (u: Update) => {
      const now = performance.now();
      this.resolveFirst();
      if (u.update?.$case !== "add") return;
      for (const a of u.update.value.addrs)
        if (a.addr && !this.seen.has(a.addr.ip)) this.seen.set(a.addr.ip, now);
      if (this.waiter && this.seen.has(this.waiter.ip)) this.waiter.resolve();
    });
    this.call.on("error", () => {});
  }

  /** Resolves when the address has arrived. */
  has(ip: string): Promise<void> {
    if (this.seen.has(ip)) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = { ip, resolve };
    });
  }
}

async function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${WAIT_MS} ms`)), WAIT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-bench-destination-"));
  const built = join(root, "dist/control/main.js");
  const args = existsSync(built) ? [built] : ["--import", "tsx", join(root, "control/main.ts")];
  const endpoints = ["10.0.0.1", "10.0.0.2"];
  await writeAtomically(dir, serviceYaml(endpoints));
  const controller = new Child({
    name: "trellis-controller",
    command: process.execPath,
    args: [
      ...args,
      "destination",
      "--source=local",
      `--local-dir=${dir}`,
      "--listen=127.0.0.1:0",
      "--admin-listen=127.0.0.1:0",
    ],
    env: { TRELLIS_LOG: "warn" },
    echoStderr: Boolean(process.env.TRELLIS_BENCH_VERBOSE),
  });
  const clients: DestinationClient[] = [];
  const streams: Stream[] = [];
  try {
    const ready = await controller.ready<{ listen: string }>(WAIT_MS);
    const pid = controller.process.pid as number;
    process.stdout.write(
      `destination fan-out: ${STREAMS} Get streams over ${CONNECTIONS} connections, controller ${existsSync(built) ? "dist" : "tsx"} pid ${pid}\n`,
    );
    for (let i = 0; i < CONNECTIONS; i++)
      clients.push(
        new DestinationClient(ready.listen, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
        }),
      );
    let next = 3;
    const change = async (watching: Stream[]): Promise<number[]> => {
      const ip = `10.0.${next >> 8}.${next & 255}`;
      next++;
      endpoints.push(ip);
      const arrived = Promise.all(watching.map((s) => s.has(ip)));
      const start = performance.now();
      await writeAtomically(dir, serviceYaml(endpoints));
      await bounded(`endpoint ${ip} on ${watching.length} streams`, arrived);
      return watching.map((s) => (s.seen.get(ip) as number) - start);
    };

    // Baseline: one stream alone.
    const lone = new Stream(clients[0] as DestinationClient);
    await bounded("first message", lone.first);
    const baseline: number[] = [];
    for (let i = 0; i < BASELINE_CHANGES; i++) baseline.push(...(await change([lone])));
    lone.call.cancel();
    baseline.sort((a, b) => a - b);
    const baseP50 = percentile(baseline, 50);

    await settle(SETTLE_MS);
    const rssBefore = rssMb(pid);
    for (let i = 0; i < STREAMS; i++) streams.push(new Stream(clients[i % CONNECTIONS] as DestinationClient));
    await bounded("every stream's first message", Promise.all(streams.map((s) => s.first)));
    await settle(SETTLE_MS);
    const rssAfter = rssMb(pid);

    const all: number[] = [];
    const spreads: number[] = [];
    const cpuBefore = cpuMs(pid);
    for (let i = 0; i < CHANGES; i++) {
      const times = (await change(streams)).sort((a, b) => a - b);
      all.push(...times);
      spreads.push((times[times.length - 1] as number) - (times[0] as number));
    }
    const cpuPerChange = (cpuMs(pid) - cpuBefore) / CHANGES;
    all.sort((a, b) => a - b);
    const p50 = percentile(all, 50);
    const p99 = percentile(all, 99);
    const perStreamKb = ((rssAfter - rssBefore) * 1024) / STREAMS;
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    process.stdout.write(
      [
        `baseline (1 stream, ${BASELINE_CHANGES} changes): p50 ${ms(baseP50)}`,
        `fan-out (${STREAMS} streams, ${CHANGES} changes, ${all.length} samples): p50 ${ms(p50)}  p99 ${ms(p99)}  max ${ms(all[all.length - 1] as number)}`,
        `fan-out spread (last minus first stream of a change): median ${ms(
          percentile(
            [...spreads].sort((a, b) => a - b),
            50,
          ),
        )}`,
        `controller CPU per change fanned out to ${STREAMS} streams: ${ms(cpuPerChange)} (the rest of the spread is this process receiving)`,
        `ratios to baseline p50: p50 ${(p50 / baseP50).toFixed(2)}x  p99 ${(p99 / baseP50).toFixed(2)}x`,
        `controller RSS: ${rssBefore.toFixed(1)} MiB before, ${rssAfter.toFixed(1)} MiB with ${STREAMS} streams: ${perStreamKb.toFixed(1)} KiB per stream`,
        `(times start at the file rename: they include fs.watch and the 20 ms reload debounce)`,
        "",
      ].join("\n"),
    );
    return 0;
  } catch (err) {
    process.stderr.write(`destination bench failed: ${(err as Error).message}\n${controller.stderr()}\n`);
    return 1;
  } finally {
    for (const s of streams) s.call.cancel();
    for (const c of clients) c.close();
    await controller.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
