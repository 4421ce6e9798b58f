/** `node dist/cli/main.js ARGS` as a user runs it: exit code, stdout and stderr. */
import { execFile } from "node:child_process";
import { bin, repoRoot } from "./process.js";

export interface Run {
  /** The exit code; -1 when the process was killed (a signal or the timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface MeshctlOptions {
  /** Variables added to this process's environment. */
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed. */
  stdin?: string;
  timeoutMs?: number;
}

/**
 * At most this many meshctl processes of one test file run at once; the rest wait their turn. Tests
 * start many with Promise.all, and on a loaded machine a dozen Node processes starting together would
 * each take long enough to hit their timeout, which should measure one run, not the queue.
 */
const MAX_RUNNING = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function turn<T>(run: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await run();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs meshctl from the repository root and resolves with how it ended, whatever the exit code. */
export function meshctl(args: string[], options: MeshctlOptions = {}): Promise<Run> {
  return turn(() => spawnMeshctl(args, options));
}

function spawnMeshctl(args: string[], options: MeshctlOptions): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin("meshctl"), ...args],
      { cwd: repoRoot, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      },
    );
    child.stdin?.end(options.stdin ?? "");
  });
}

/** Runs meshctl and resolves with its stdout; rejects with its stderr when it fails. */
export async function meshctlOk(args: string[], options: MeshctlOptions = {}): Promise<string> {
  const run = await meshctl(args, options);
  if (run.code !== 0) throw new Error(`meshctl ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}
