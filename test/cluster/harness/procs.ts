/**
 * The control plane's processes: each started with its output in a log file (so a detached test bed
 * keeps running after the script that started it exits), awaited until ready with a bounded deadline,
 * and stopped by its own PID, never by name. Every process started here is also killed when this
 * Node.js process exits, so a crashed test leaves no etcd or kube-apiserver behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** One running child process. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the process has exited, with its exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

const SETPRIV = "/usr/bin/setpriv";
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A signal would end the process without "exit" handlers; turn it into an exit so they run.
  for (const [sig, n] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.once(sig, () => {
      if (process.listenerCount(sig) === 0) process.exit(128 + n);
    });
  }
  process.on("exit", () => {
    for (const child of live) {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

export interface StartOptions {
  logPath: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Leave the process running when this Node.js process exits (the `cluster:up` daemon's children). */
  keepOnExit?: boolean;
}

/** Starts `cmd args` in its own process group with stdout and stderr appended to `logPath`. */
export function startProc(name: string, cmd: string, args: string[], opts: StartOptions): Proc {
  installExitHook();
  const fd = openSync(opts.logPath, "a");
  // setpriv --pdeathsig: the kernel kills the child when this process dies, even by SIGKILL, when no
  // exit handler can run.
  const [file, argv] =
    !opts.keepOnExit && existsSync(SETPRIV)
      ? [SETPRIV, ["--pdeathsig", "KILL", "--", cmd, ...args]]
      : [cmd, args];
  const child = spawn(file, argv, {
    stdio: ["ignore", fd, fd],
    detached: true,
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  closeSync(fd);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
    child.on("error", (err) => {
      running = false;
      live.delete(child);
      process.stderr.write(`[testbed] ${name} could not start: ${err.message}\n`);
      resolve({ code: -1, signal: null });
    });
  });
  if (!opts.keepOnExit) live.add(child);
  const tail = (lines = 30) => {
    try {
      return readFileSync(opts.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  };
  return {
    name,
    pid: child.pid ?? -1,
    logPath: opts.logPath,
    exited,
    get running() {
      return running;
    },
    tail,
    async stop(graceMs = 10_000) {
      if (!running || !child.pid) return;
      signalGroup(child.pid, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child.pid as number, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Signals the process group led by `pid` (our children lead their own groups). */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Polls `probe` until it returns true, the process dies, or `timeoutMs` passes. There is no event
 * for "the server is ready", so this is the one place that polls; every wait is bounded.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; proc?: Proc },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = "";
  let died = false;
  opts.proc?.exited.then(() => {
    died = true;
  });
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (died || (opts.proc && !opts.proc.running)) {
      throw new Error(
        `${what}: ${opts.proc?.name} exited before it was ready. Its log:\n${opts.proc?.tail()}`,
      );
    }
    if (Date.now() > deadline) {
      const log = opts.proc ? `\nIts log:\n${opts.proc.tail()}` : "";
      throw new Error(`${what}: not ready after ${opts.timeoutMs} ms (${lastError || "no answer"})${log}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/** `n` distinct free TCP ports on 127.0.0.1, held open together so they cannot repeat. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === "string") throw new Error("no port");
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
