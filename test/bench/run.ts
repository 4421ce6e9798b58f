/**
 * `npm run bench`: one run measures the same backend reached directly, through a pair of nginx mTLS
 * sidecars, through two Trellis proxies, and through two more carrying it as opaque TCP (the floor for
 * a Node proxy), then prints a table and the summary line (last). Every
 * process it starts is stopped by PID when it ends, fails, passes its deadline or gets Ctrl-C.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { get } from "../support/mesh.js";
import { hasTool } from "../support/tools.js";
import { backendConfig, clientSidecarConfig, serverSidecarConfig, startNginx } from "./nginx.js";
import {
  BACKEND_BODY,
  IDLE_SETTLE_MS,
  LOAD,
  MESH,
  NGINX_WORKERS,
  QUICK,
  ROUNDS,
  RUN_DEADLINE_MS,
} from "./params.js";
import { writeBenchPki } from "./pki.js";
import { freePort, stopAll } from "./processes.js";
import { combineRounds, invalidity, type PathResult, render } from "./report.js";
import { groupCpuMs, groupRssMb, sampleRss } from "./rss.js";
import type { Target } from "./target.js";
import { startTrellis } from "./trellis.js";
import { runWrk } from "./wrk.js";

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** One request through the path: it must reach the backend and come back intact. */
async function checkPath(target: Target): Promise<void> {
  // fetch cannot set Host, and the Trellis client proxy routes by it.
  const res = await get(target.address, MESH.host);
  const body = res.body;
  if (res.status !== 200 || body !== BACKEND_BODY) {
    throw new Error(
      `${target.name}: a request did not reach the backend (${res.status}: ${body.slice(0, 200)})`,
    );
  }
}

/**
 * Reads the client proxy's metrics after the run: the requests it sent (the connections it opened,
 * for opaque TCP) must all have been mTLS.
 */
/** What the client proxy counted with and without mTLS: a note for the report, and the plaintext count. */
async function mtlsNote(target: Target): Promise<{ note: string; plaintext?: number } | undefined> {
  const admin = target.admin?.client;
  if (!admin) return undefined;
  const [family, what] =
    target.name === "trellis-opaque" ? ["tcp_open_total", "connections"] : ["request_total", "requests"];
  try {
    const text = await (await fetch(`http://${admin}/metrics`)).text();
    const count = (tls: (value: string) => boolean) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(`${family}{`) && l.includes('direction="outbound"'))
        .filter((l) => tls(/tls="([^"]*)"/.exec(l)?.[1] ?? ""))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    const plaintext = count((v) => v !== "true");
    return {
      note: `${target.name}: the client proxy counted ${count((v) => v === "true")} outbound ${what} over mTLS, ${plaintext} without`,
      plaintext,
    };
  } catch (err) {
    return { note: `${target.name}: could not read the client proxy's metrics (${(err as Error).message})` };
  }
}

const largest = (values: number[]) => (values.length === 0 ? undefined : Math.max(...values));

/** One round on one path: the latency phase, then the throughput phase with RSS and CPU sampled. */
async function measure(target: Target, round: number): Promise<PathResult> {
  const tag = `${target.name} (round ${round + 1}/${ROUNDS})`;
  log(`${tag}: latency, ${LOAD.latency.connections} connection, ${LOAD.latency.durationS}s`);
  const latency = await runWrk(target.address, LOAD.latency);
  log(`${tag}: throughput, ${LOAD.throughput.connections} connections, ${LOAD.throughput.durationS}s`);
  const groups = Object.values(target.sidecars);
  const cpuBefore = groups.map((pids) => groupCpuMs(pids()));
  const sampler = sampleRss(target.sidecars);
  const throughput = await runWrk(target.address, LOAD.throughput);
  const loaded = sampler.stop();
  const cpuUs = groups.map(
    (pids, i) => ((groupCpuMs(pids()) - (cpuBefore[i] ?? 0)) * 1000) / throughput.requests,
  );
  return {
    name: target.name,
    description: target.description,
    latency,
    throughput,
    rssLoadedMb: largest(Object.values(loaded)),
    cpuUsPerRequest: largest(cpuUs),
  };
}

async function main(): Promise<number> {
  const missingTools = ["wrk", "nginx"].filter((tool) => !hasTool(tool));
  if (missingTools.length > 0) {
    log(`needs ${missingTools.join(", ")} on PATH`);
    return 2;
  }
  const dir = await mkdtemp(join(tmpdir(), "trellis-bench-"));
  try {
    const pki = await writeBenchPki(dir);
    const [backendPort, serverPort, clientPort] = [await freePort(), await freePort(), await freePort()];
    await startNginx(dir, "backend", backendPort, backendConfig(dir, backendPort));
    const nginxServer = await startNginx(
      dir,
      "nginx-server",
      serverPort,
      serverSidecarConfig(dir, serverPort, backendPort, pki),
    );
    const nginxClient = await startNginx(
      dir,
      "nginx-client",
      clientPort,
      clientSidecarConfig(dir, clientPort, serverPort, pki),
    );
    const targets: Target[] = [
      { name: "direct", description: "wrk → backend", address: `127.0.0.1:${backendPort}`, sidecars: {} },
      {
        name: "nginx",
        description: "wrk → nginx → mTLS → nginx → backend",
        address: `127.0.0.1:${clientPort}`,
        sidecars: { client: nginxClient.pids, server: nginxServer.pids },
      },
    ];
    const trellis = await startTrellis(dir, pki, backendPort);
    if (trellis.ok) targets.push(trellis.target);
    else log(`trellis path unavailable: ${trellis.reason}`);
    // The floor: a second pair of the same proxies carrying the backend as opaque TCP.
    const floor = await startTrellis(dir, pki, backendPort, { opaque: true });
    if (floor.ok) targets.push(floor.target);
    else log(`trellis-opaque path unavailable: ${floor.reason}`);

    for (const target of targets) await checkPath(target);
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const idle = new Map(
      targets.map((t) => [t.name, largest(Object.values(t.sidecars).map((pids) => groupRssMb(pids())))]),
    );

    for (const target of targets) {
      log(`${target.name}: warm-up ${LOAD.warmup.durationS}s`);
      await runWrk(target.address, LOAD.warmup);
    }
    const rounds: PathResult[][] = targets.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, target] of targets.entries()) rounds[i]?.push(await measure(target, round));
    }
    const results: PathResult[] = [];
    const notes: string[] = [];
    for (const [i, target] of targets.entries()) {
      const result = combineRounds(rounds[i] ?? []);
      const rssIdleMb = idle.get(target.name);
      const mtls = await mtlsNote(target);
      if (mtls) notes.push(mtls.note);
      results.push({
        ...result,
        ...(rssIdleMb !== undefined && { rssIdleMb }),
        ...(mtls?.plaintext !== undefined && { plaintext: mtls.plaintext }),
      });
    }
    await stopAll();
    const header = [
      `Trellis bench${QUICK ? " (QUICK: 3 s phases, not comparable)" : ""}: ${cpus().length} CPUs, node ${process.version}`,
      `latency: wrk -t${LOAD.latency.threads} -c${LOAD.latency.connections} -d${LOAD.latency.durationS}s; ` +
        `throughput: wrk -t${LOAD.throughput.threads} -c${LOAD.throughput.connections} -d${LOAD.throughput.durationS}s; ` +
        `warm-up ${LOAD.warmup.durationS}s per path; nginx ${NGINX_WORKERS} worker per sidecar; backend: nginx, fixed body`,
      `each figure: the median of ${ROUNDS} round${ROUNDS === 1 ? "" : "s"}, paths interleaved (loaded RSS: the largest)`,
    ].join("\n");
    process.stdout.write(`${render(results, header, notes, trellis.ok ? undefined : trellis.reason)}\n`);
    return trellis.ok && floor.ok && invalidity(results).length === 0 ? 0 : 1;
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

let exiting = false;
async function abort(why: string, code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  log(`${why}; stopping everything started`);
  await stopAll();
  process.exit(code);
}
process.once("SIGINT", () => void abort("interrupted", 130));
process.once("SIGTERM", () => void abort("terminated", 143));
const deadline = setTimeout(
  () => void abort(`deadline of ${RUN_DEADLINE_MS / 1000}s passed`, 1),
  RUN_DEADLINE_MS,
);

main().then(
  (code) => {
    clearTimeout(deadline);
    process.exitCode = code;
  },
  async (err: unknown) => {
    clearTimeout(deadline);
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    await stopAll();
    process.exitCode = 1;
  },
);
