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

/** Runs meshctl from the repository root and resolves with how it ended, whatever the exit code. */
export function meshctl(args: string[], options: MeshctlOptions = {}): Promise<Run> {
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
