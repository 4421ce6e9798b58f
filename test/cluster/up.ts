/**
 * `npm run cluster:up`: starts a test bed (control plane + node stand-in) in the background and prints
 * the kubeconfig's path as its last stdout line. The test bed lives in a daemon process (this script
 * with --daemon) whose PID and its children's PIDs are recorded in a state file for
 * `npm run cluster:down`. Builds the binaries first when they are missing.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { ensureBinaries } from "./build/gobuild.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { pidAlive } from "./harness/procs.js";
import { readState, STATE_DIR, STATE_FILE, type UpState } from "./state.js";

async function daemon(): Promise<void> {
  const ready = (line: string) => {
    try {
      writeFileSync(3, `${line}\n`);
    } catch {
      // the parent is gone; keep running
    }
  };
  let cluster: Cluster | undefined;
  const shutdown = async () => {
    await cluster?.stop();
    rmSync(STATE_FILE, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  try {
    rmSync(`${STATE_DIR}/cluster`, { recursive: true, force: true });
    cluster = await startCluster(undefined, {
      dir: `${STATE_DIR}/cluster`,
      log: (m) => process.stdout.write(`[testbed] ${m}\n`),
    });
    const state: UpState = {
      daemonPid: process.pid,
      pids: cluster.pids(),
      kubeconfigPath: cluster.kubeconfigPath,
      dir: cluster.dir,
      slot: cluster.addresses.slot,
      apiserverUrl: cluster.apiserverUrl,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
    ready(`READY ${cluster.kubeconfigPath}`);
  } catch (err) {
    ready(`FAILED ${(err as Error).message.split("\n")[0]}`);
    process.stderr.write(`${(err as Error).stack}\n`);
    await cluster?.stop();
    process.exit(1);
  }
}

async function up(): Promise<void> {
  const existing = readState();
  if (existing && pidAlive(existing.daemonPid)) {
    process.stderr.write(
      `test bed already running (PID ${existing.daemonPid}); npm run cluster:down stops it\n`,
    );
    process.stdout.write(`${existing.kubeconfigPath}\n`);
    return;
  }
  await ensureBinaries();
  mkdirSync(STATE_DIR, { recursive: true });
  const logPath = `${STATE_DIR}/testbed.log`;
  const log = openSync(logPath, "w");
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? "", "--daemon"], {
    detached: true,
    stdio: ["ignore", log, log, "pipe"],
  });
  process.stderr.write(`starting the test bed (PID ${child.pid}, log ${logPath})\n`);
  const pipe = child.stdio[3];
  if (!pipe || !("on" in pipe)) throw new Error("no readiness pipe to the daemon");
  const line = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve("FAILED not ready after 300 s"), 300_000);
    createInterface({ input: pipe as NodeJS.ReadableStream }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(`FAILED the daemon exited (${code})`);
    });
  });
  (pipe as NodeJS.ReadableStream & { destroy(): void }).destroy();
  child.unref();
  if (!line.startsWith("READY ")) {
    const tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-30).join("\n");
    throw new Error(`${line.replace(/^FAILED /, "")}\n${tail}`);
  }
  process.stderr.write("test bed ready; npm run cluster:down stops it\n");
  process.stdout.write(`${line.slice("READY ".length)}\n`);
}

if (process.argv.includes("--daemon")) {
  await daemon();
} else {
  try {
    await up();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`cluster:up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
