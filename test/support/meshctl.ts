/** `node dist/cli/main.js ARGS` as a user runs it: exit code, stdout and stderr. */
import { execFile } from "node:child_process";
import { bin } from "./process.js";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function meshctl(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin("meshctl"), ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
