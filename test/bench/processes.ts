/**
 * Every process the benchmark starts is registered here and stopped by PID when the run ends, fails,
 * hits its deadline or gets Ctrl-C: SIGTERM, then SIGKILL after a grace period. nginx masters are
 * stopped the same way; their workers, read from /proc before the stop, are killed too if the master
 * had to be killed.
 */
import { readFileSync } from "node:fs";
import { Child } from "../support/process.js";

const started: Child[] = [];
const extraPids = new Map<Child, () => number[]>();

/** Starts a command and registers it for cleanup. */
export function spawnTracked(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  const child = new Child({
    name,
    command,
    args,
    env,
    echoStderr: process.env.TRELLIS_BENCH_VERBOSE === "1",
  });
  started.push(child);
  return child;
}

/** Registers a function that lists PIDs to kill with this child if it must be killed (nginx workers). */
export function alsoKill(child: Child, pids: () => number[]): void {
  extraPids.set(child, pids);
}

/** The PIDs of a process's direct children (Linux /proc). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Stops one child: SIGTERM, SIGKILL after the grace period (and its registered extra PIDs then). */
export async function stopTracked(child: Child, graceMs = 3000): Promise<void> {
  const extra = extraPids.get(child)?.() ?? [];
  if (child.running) {
    child.process.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (!child.running) return;
      child.process.kill("SIGKILL");
      for (const pid of extra) killQuietly(pid);
    }, graceMs);
    await child.exited;
    clearTimeout(timer);
  }
  const i = started.indexOf(child);
  if (i >= 0) started.splice(i, 1);
}

/** Stops everything still running, newest first (load generators, then proxies, then backends). */
export async function stopAll(): Promise<void> {
  for (const child of [...started].reverse()) await stopTracked(child);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** A port on 127.0.0.1 that is free right now (bound, then released). */
export { freePort } from "../support/ports.js";

/** Waits until something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`bench: nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
