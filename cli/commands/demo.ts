/**
 * `meshctl demo`: a whole mesh on this machine with no cluster. The identity service, and for each demo
 * workload its app and its proxy, run as separate processes on loopback addresses of their own, with
 * traffic flowing and mTLS between every pair.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { DirectSource } from "../../viz/direct.js";
import { gatherStat, statPlan, statRows } from "../../viz/golden.js";
import { renderStat } from "../../viz/render.js";
import { LocalMesh, type ReadyProxy } from "../demo/mesh.js";
import { removeDemoState, writeDemoState } from "../demo/state.js";
import { bookshelf, podNameOf } from "../demo/topology.js";

export interface DemoOptions {
  headless: boolean;
  duration?: number;
  verbose: boolean;
  issuanceLifetime: string;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("expected a number of seconds above 0, e.g. 30");
  return n;
}

export function demoCommand(): Command {
  return new Command("demo")
    .description("run a local mesh (identity service, demo apps and their proxies) with traffic flowing")
    .option("--headless", "no UI: print one JSON line per ready proxy on stdout", false)
    .addOption(
      new Option("--duration <seconds>", "stop by itself after this many seconds").argParser(positiveSeconds),
    )
    .option("--issuance-lifetime <duration>", "lifetime of the proxies' certificates", "24h")
    .option("-v, --verbose", "copy every process's logs to stderr", false)
    .addHelpText(
      "after",
      `
Examples:
  meshctl demo                          # run until Ctrl-C, printing each proxy as it becomes ready
  meshctl demo --headless --duration 60 # JSON lines for scripts and tests, stop after a minute

Headless output, one JSON object per line:
  {"trustAnchor": PATH}
  {"name", "identity", "app", "outbound", "inbound", "admin"}   (addresses as host:port)
  {"state": PATH}   where \`meshctl viz --demo\` finds the proxies; removed when the demo stops`,
    )
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts);
    });
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const headless = opts.headless;
  const out = (obj: unknown) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  const topology = bookshelf();
  const mesh = new LocalMesh({
    topology,
    verbose: opts.verbose,
    issuanceLifetime: opts.issuanceLifetime,
    onTrustAnchor: (path) => (headless ? out({ trustAnchor: path }) : undefined),
    onProxyReady: (proxy) => (headless ? out(proxy) : printProxy(proxy)),
  });
  if (!headless)
    process.stderr.write(`Starting the local mesh on ${topology.identityIp.replace(/\.\d+$/, ".0/24")}...\n`);

  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    const stop = (why: string) => {
      if (!stopping) resolve(why);
      stopping = true;
    };
    process.once("SIGINT", () => stop("interrupted"));
    process.once("SIGTERM", () => stop("terminated"));
    if (opts.duration) setTimeout(() => stop("duration elapsed"), opts.duration * 1000).unref();
  });

  try {
    await Promise.race([mesh.start(), stopped]);
  } catch (err) {
    process.stderr.write(`meshctl demo: the local mesh did not start: ${(err as Error).message}\n`);
    return 1;
  }
  // Where viz finds this demo's proxies; removed below however the demo ends.
  const statePath = stopping
    ? undefined
    : await writeDemoState({
        pid: process.pid,
        startedAt: Date.now(),
        namespace: topology.namespace,
        storeDir: mesh.storeDir,
        proxies: mesh.proxies.map((p) => ({
          name: p.name,
          pod: podNameOf(p.name),
          admin: p.admin,
          identity: p.identity,
        })),
      }).catch(() => undefined);
  if (statePath && headless) out({ state: statePath });
  if (!stopping && !headless) {
    process.stderr.write(
      `\nThe mesh is up: traffic → web → books (a TrafficSplit sends 10 % to books-v2), authors, all over mTLS.\nTrust anchor: ${mesh.trustAnchorPath}\n`,
    );
    process.stderr.write("Golden metrics of each workload every 5 s, from its proxy. Ctrl-C to stop.\n");
  }
  const stats = !headless && !stopping ? watchStats(mesh, topology.namespace) : undefined;

  // A process that dies on its own ends the demo with an error rather than leaving half a mesh.
  const crashed = Promise.race(
    mesh.processes().map((child) => child.exited.then((code) => ({ child, code }))),
  ).then(({ child, code }) => `${child.options.name} exited (${code}): ${lastLines(child.stderr())}`);
  const reason = await Promise.race([stopped, crashed.then((why) => `error: ${why}`)]);
  stopping = true;
  stats?.stop();
  if (statePath) await removeDemoState(statePath);
  await mesh.stop();
  if (reason.startsWith("error: ")) {
    process.stderr.write(`meshctl demo: ${reason.slice(7)}\n`);
    return 1;
  }
  if (!headless) process.stderr.write(`Stopped (${reason}).\n`);
  return 0;
}

/**
 * Every few seconds, the golden metrics of each workload over the last window, as `viz stat deploy
 * --demo` computes and prints them: the same direct source and the same rows.
 */
function watchStats(mesh: LocalMesh, namespace: string, everyS = 5): { stop(): void } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, ms).unref();
    });
  const targets = mesh.proxies.map((p) => ({
    admin: p.admin,
    labels: { namespace, deployment: p.name, pod: podNameOf(p.name) },
  }));
  const plan = statPlan({ resource: { kind: "deployment" }, namespace });
  void (async () => {
    while (!stopped && !("error" in plan)) {
      const source = new DirectSource(targets, everyS);
      try {
        await source.collect(sleep);
        if (stopped) break;
        const rows = statRows(await gatherStat(source, plan), plan.by, plan.ownProxies);
        if (rows.length > 0) process.stdout.write(`\n${renderStat(rows, "table", false)}\n`);
      } catch {
        // A proxy that stopped answering is the crash watcher's to report.
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
      wake?.();
    },
  };
}

function printProxy(p: ReadyProxy): void {
  process.stdout.write(
    `${p.name.padEnd(8)} ${p.identity.padEnd(44)} app ${p.app.padEnd(20)} outbound ${p.outbound.padEnd(20)} inbound ${p.inbound.padEnd(20)} admin ${p.admin}\n`,
  );
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}
