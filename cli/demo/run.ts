/**
 * What `meshctl demo` does once its flags are parsed: start the local mesh, record it in its state
 * file, show it, and stop everything however it ends (Ctrl-C or `q` in the dashboard, SIGINT, SIGTERM,
 * SIGHUP, `--duration`, or a process that dies). It shows the mesh in one of three ways:
 * - `dashboard`: the live dashboard on the demo's own proxies, when stdin and stdout are a terminal;
 * - `tables`: every few seconds the golden metrics as `viz stat deploy` prints them (no terminal, or -v,
 *   whose logs would draw over the dashboard);
 * - `headless`: JSON lines on stdout for scripts and tests.
 */
import { DirectSource } from "../../viz/direct.js";
import { gatherStat, statPlan, statRows } from "../../viz/golden.js";
import { renderStat } from "../../viz/render.js";
import { loadDashboard } from "../viz/dashboard-loader.js";
import { type Chosen, loadSplits } from "../viz/source.js";
import { LocalMesh, type ReadyProxy } from "./mesh.js";
import { removeDemoState, writeDemoState } from "./state.js";
import { bookshelf, canaryFile, type DemoTopology, podNameOf } from "./topology.js";

export interface DemoOptions {
  headless: boolean;
  duration?: number;
  verbose: boolean;
  issuanceLifetime: string;
}

export type DemoView = "dashboard" | "tables" | "headless";

/** How the demo shows the mesh, and why not the dashboard when it cannot have it. */
export function chooseView(
  opts: Pick<DemoOptions, "headless" | "verbose">,
  stdin: { isTTY?: boolean },
  stdout: { isTTY?: boolean },
): { view: DemoView; why?: string } {
  if (opts.headless) return { view: "headless" };
  if (!stdout.isTTY) return { view: "tables", why: "stdout is not a terminal" };
  if (!stdin.isTTY) return { view: "tables", why: "stdin is not a terminal (the dashboard reads keys)" };
  if (opts.verbose) return { view: "tables", why: "-v: the logs would draw over the dashboard" };
  return { view: "dashboard" };
}

/** The dashboard's window, and the tables' period. */
const DASHBOARD_WINDOW_S = 3;
const TABLES_EVERY_S = 5;

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { view, why } = chooseView(opts, process.stdin, process.stdout);
  const headless = view === "headless";
  const out = (obj: unknown) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  const say = (text: string) => process.stderr.write(`${text}\n`);
  const topology = bookshelf();
  const mesh = new LocalMesh({
    topology,
    verbose: opts.verbose,
    issuanceLifetime: opts.issuanceLifetime,
    onTrustAnchor: (path) => (headless ? out({ trustAnchor: path }) : undefined),
    onProxyReady: (proxy) => (headless ? out(proxy) : printProxy(proxy, view)),
  });
  if (!headless) say(`Starting the local mesh on ${topology.identityIp.replace(/\.\d+$/, ".0/24")}...`);

  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    const stop = (why: string) => {
      if (!stopping) resolve(why);
      stopping = true;
    };
    process.once("SIGINT", () => stop("interrupted"));
    process.once("SIGTERM", () => stop("terminated"));
    process.once("SIGHUP", () => stop("the terminal went away"));
    if (opts.duration) setTimeout(() => stop("duration elapsed"), opts.duration * 1000).unref();
  });

  try {
    await Promise.race([mesh.start(), stopped]);
  } catch (err) {
    say(`meshctl demo: the local mesh did not start: ${(err as Error).message}`);
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
        processes: mesh.processes().map((c) => ({ name: c.options.name, pid: c.process.pid ?? 0 })),
      }).catch(() => undefined);
  if (statePath && headless) out({ state: statePath });
  const split = canaryFile(topology);
  if (!stopping && !headless) {
    for (const line of describe(topology)) say(line);
    say(`Trust anchor: ${mesh.trustAnchorPath}`);
    say(`Store: ${mesh.storeDir}${split ? ` (edit ${split} there: traffic follows)` : ""}`);
    if (view === "tables")
      say(
        `Golden metrics of each workload every ${TABLES_EVERY_S} s, from its proxy (${why}). Ctrl-C to stop.`,
      );
  }

  // A process that dies on its own ends the demo with an error rather than leaving half a mesh.
  const crashed = Promise.race(
    mesh.processes().map((child) => child.exited.then((code) => ({ child, code }))),
  ).then(({ child, code }) => `error: ${child.options.name} exited (${code}): ${lastLines(child.stderr())}`);

  let closeView: () => Promise<void> = async () => {};
  let quit: Promise<string> = new Promise(() => {});
  if (!stopping && view === "tables") {
    const stats = watchStats(mesh, topology.namespace, TABLES_EVERY_S);
    closeView = async () => stats.stop();
  } else if (!stopping && view === "dashboard") {
    const { openDashboard } = await loadDashboard();
    const session = openDashboard(demoSource(mesh, topology.namespace, DASHBOARD_WINDOW_S), {
      note: `store ${mesh.storeDir}${split ? `: edit ${split} to move the canary` : ""}`,
      splits: () => loadSplits({ demo: true, allNamespaces: false, store: mesh.storeDir }, undefined),
    });
    quit = session.done.then(
      () => "quit",
      (err: Error) => `error: the dashboard failed: ${err.message}`,
    );
    closeView = () => session.close().catch(() => {});
  }

  const reason = await Promise.race([stopped, crashed, quit]);
  stopping = true;
  // The terminal is the user's again before anything else is said or waited for.
  await closeView();
  if (!headless) say("Stopping the mesh...");
  if (statePath) await removeDemoState(statePath);
  await mesh.stop();
  if (reason.startsWith("error: ")) {
    say(`meshctl demo: ${reason.slice(7)}`);
    return 1;
  }
  if (!headless) say(`Stopped (${reason}).`);
  return 0;
}

/** The demo's proxies as viz's direct source, the way `viz --demo` reads them from the state file. */
function demoSource(mesh: LocalMesh, namespace: string, windowS: number): Chosen {
  const targets = mesh.proxies.map((p) => ({
    admin: p.admin,
    labels: { namespace, deployment: p.name, pod: podNameOf(p.name) },
  }));
  return {
    namespace,
    open: async () => {
      const source = new DirectSource(targets, windowS);
      await source.collect();
      return source;
    },
    splits: () => loadSplits({ demo: true, allNamespaces: false, store: mesh.storeDir }, undefined),
  };
}

/**
 * Every few seconds, the golden metrics of each workload over the last window, as `viz stat deploy
 * --demo` computes and prints them: the same direct source and the same rows.
 */
function watchStats(mesh: LocalMesh, namespace: string, everyS: number): { stop(): void } {
  let stopped = false;
  const chosen = demoSource(mesh, namespace, everyS);
  const plan = statPlan({ resource: { kind: "deployment" }, namespace });
  void (async () => {
    while (!stopped && !("error" in plan)) {
      try {
        const window = await chosen.open("window");
        if (stopped) break;
        const rows = statRows(await gatherStat(window, plan), plan.by, plan.ownProxies);
        if (rows.length > 0) process.stdout.write(`\n${renderStat(rows, "table", false)}\n`);
      } catch {
        // A proxy that stopped answering is the crash watcher's to report.
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/** Each proxy as it becomes ready: every address for the tables' readers, its identity before the dashboard. */
function printProxy(p: ReadyProxy, view: DemoView): void {
  if (view === "dashboard") {
    process.stderr.write(`  ${p.name.padEnd(9)} ready as ${p.identity}\n`);
    return;
  }
  process.stdout.write(
    `${p.name.padEnd(8)} ${p.identity.padEnd(44)} app ${p.app.padEnd(20)} outbound ${p.outbound.padEnd(20)} inbound ${p.inbound.padEnd(20)} admin ${p.admin}\n`,
  );
}

/** What the demo's traffic shows, in lines that fit 80 columns. */
export function describe(topology: DemoTopology): string[] {
  const percent = (rate: number) => `${Math.round(rate * 100)} %`;
  const lines = ["", "The mesh is up, every hop over mTLS: traffic → web → books, authors."];
  const c = topology.canary;
  const canary = topology.pods.find((p) => p.name === c?.canary);
  if (c && canary)
    lines.push(
      `- ${c.apex}: a TrafficSplit sends ${c.canaryPercent} % to the ${c.canary} canary, which fails ${percent(canary.failureRate)}.`,
    );
  const r = topology.retryable;
  const flaky = topology.pods.find((p) => p.name === r?.service);
  if (r && flaky)
    lines.push(
      `- ${r.service}: GET ${r.prefix} fails ${percent(flaky.failureRate)}; its ServiceProfile marks it retryable.`,
    );
  return lines;
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}
