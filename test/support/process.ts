/**
 * Child processes for integration tests: the real executables, started the way a pod starts them, with
 * their stdout lines awaitable and their end guaranteed when the test ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The built entry point of an executable (npm test builds before it runs the tests). */
export function bin(name: "meshctl" | "trellis-proxy" | "trellis-controller"): string {
  const path = { meshctl: "cli", "trellis-proxy": "proxy", "trellis-controller": "control" }[name];
  return `${repoRoot}dist/${path}/main.js`;
}

export interface Started {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Everything written to stderr so far. */
  stderr: () => string;
  /** Resolves with the first stdout line (past or future) the predicate accepts. */
  waitForLine: (pred: (line: string) => boolean, timeoutMs?: number) => Promise<string>;
  /** Sends a signal and waits for the exit; resolves with the exit code (or signal name). */
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

/** Starts a node script (a built executable) and stops it, by PID, when the test ends. */
export function startNode(
  t: TestContext | undefined,
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Started {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(t, child);
}

/** Starts any command and stops it when the test ends. */
export function startCommand(
  t: TestContext | undefined,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Started {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  return track(t, child);
}

function track(t: TestContext | undefined, child: ChildProcess): Started {
  const lines: string[] = [];
  let err = "";
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    err += d;
    if (process.env.TRELLIS_TEST_VERBOSE) process.stderr.write(d);
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);

  const started: Started = {
    child,
    lines,
    stderr: () => err,
    waitForLine(pred, timeoutMs = 20_000) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no matching line within ${timeoutMs} ms; stdout:\n${lines.join("\n")}\nstderr:\n${err}`,
            ),
          );
        }, timeoutMs);
        const onExit = (code: number | null) =>
          reject(new Error(`process exited (${code}) before the line; stderr:\n${err}`));
        child.once("exit", onExit);
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(timer);
            child.off("exit", onExit);
            resolve(l);
          },
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  t?.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return started;
}
