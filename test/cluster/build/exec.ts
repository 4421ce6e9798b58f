/**
 * Runs the Go tool for the build script: always at the lowest CPU priority (the machines are shared),
 * output streamed line by line so a long build shows progress, and with wall time and peak memory
 * measured by /usr/bin/time when it is installed.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** What a finished command cost. */
export interface Measured {
  wallSeconds: number;
  /** Peak resident set of the largest single process, from /usr/bin/time; undefined without it. */
  maxRssKiB?: number;
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  /** Called for every line of stdout and stderr; default: copy to our stderr. */
  onLine?: (line: string) => void;
}

const gnuTime = "/usr/bin/time";

/** Runs `nice -n 19 <cmd>`; rejects with the last lines of output when it exits non-zero. */
export async function runNice(cmd: string, args: string[], opts: RunOptions): Promise<Measured> {
  const tmp = mkdtempSync(join(tmpdir(), "trellis-time-"));
  const timeFile = join(tmp, "time.txt");
  const timed = existsSync(gnuTime) ? [gnuTime, "-v", "-o", timeFile, cmd, ...args] : [cmd, ...args];
  const started = process.hrtime.bigint();
  const tail: string[] = [];
  const onLine = opts.onLine ?? ((line: string) => process.stderr.write(`${line}\n`));
  const child = spawn("nice", ["-n", "19", ...timed], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      onLine(line);
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c));
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  let maxRssKiB: number | undefined;
  try {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(timeFile, "utf8"));
    if (m?.[1]) maxRssKiB = Number(m[1]);
  } catch {
    // /usr/bin/time is optional; without it only the wall time is known.
  }
  rmSync(tmp, { recursive: true, force: true });
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${code}) in ${opts.cwd}:\n${tail.join("\n")}`);
  }
  return maxRssKiB === undefined ? { wallSeconds } : { wallSeconds, maxRssKiB };
}

/** Runs a command and returns its stdout (for short queries such as `go version`). */
export async function output(cmd: string, args: string[], opts: Omit<RunOptions, "onLine">): Promise<string> {
  const lines: string[] = [];
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${code}): ${stderr.trim()}`);
  return lines.join("\n");
}

export function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${seconds.toFixed(1)}s`;
}

export function formatMeasured(m: Measured): string {
  const rss = m.maxRssKiB === undefined ? "" : `, peak RSS ${(m.maxRssKiB / 1024 / 1024).toFixed(2)} GiB`;
  return `${formatDuration(m.wallSeconds)}${rss}`;
}
