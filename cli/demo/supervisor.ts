/**
 * Child processes of the local mesh: each workload, proxy and control-plane service runs as its own
 * process, as in a pod. A child's stdout lines can be awaited (readiness is a JSON line), its stderr is
 * kept for error reports, and stopping it is SIGTERM with a deadline, then SIGKILL, always by PID. A
 * child also stops when the demo dies, however it dies, where setpriv can arrange it (Linux).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((path) => existsSync(path));

export interface ChildOptions {
  /** A short name used in error messages. */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Also copy stderr to this process's stderr as it arrives. */
  echoStderr?: boolean;
}

/** A started child process. */
export class Child {
  readonly process: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  private stderrText = "";
  private readonly waiters: { pred: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  /** Resolves with the exit code, or the signal's name. */
  readonly exited: Promise<number | string>;

  constructor(readonly options: ChildOptions) {
    // Started through setpriv where there is one (Linux), the child gets SIGTERM when the demo dies in
    // any way, SIGKILL included, so no workload outlives it; setpriv execs, so the PID is the child's.
    const [command, args] = SETPRIV
      ? [SETPRIV, ["--pdeathsig", "TERM", "--", options.command, ...options.args]]
      : [options.command, options.args];
    this.process = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = once(this.process, "exit").then(([code, signal]) => (code ?? signal) as number | string);
    this.process.stderr?.setEncoding("utf8");
    this.process.stderr?.on("data", (chunk: string) => {
      // Keep the tail only: a long-running child must not grow our memory.
      this.stderrText = (this.stderrText + chunk).slice(-64 * 1024);
      if (options.echoStderr) process.stderr.write(chunk);
    });
    createInterface({ input: this.process.stdout! }).on("line", (line) => this.onLine(line));
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** The last 64 KiB of stderr. */
  stderr(): string {
    return this.stderrText;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 1000) this.lines.splice(0, this.lines.length - 1000);
    for (const waiter of [...this.waiters]) {
      if (waiter.pred(line)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  /** Resolves with the first stdout line, past or future, that the predicate accepts. */
  waitForLine(pred: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        cleanup();
        reject(
          new Error(
            `${this.options.name}: ${why}\n${this.stderrText.trim().split("\n").slice(-15).join("\n")}`,
          ),
        );
      };
      const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
      const onExit = (code: number | null, signal: string | null) =>
        fail(`exited (${code ?? signal}) before ready`);
      const waiter = {
        pred,
        resolve: (line: string) => {
          cleanup();
          resolve(line);
        },
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.process.off("exit", onExit);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      this.process.once("exit", onExit);
      this.waiters.push(waiter);
    });
  }

  /** Waits for the first stdout line that is a JSON object with `ready: true`, and returns it. */
  async ready<T extends object>(timeoutMs?: number): Promise<T> {
    const line = await this.waitForLine((l) => parseJson(l)?.ready === true, timeoutMs);
    return parseJson(line) as T;
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves with the exit code or signal. */
  async stop(graceMs = 5000): Promise<number | string> {
    if (this.running) {
      this.process.kill("SIGTERM");
      const timer = setTimeout(() => this.running && this.process.kill("SIGKILL"), graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
