/**
 * The load generator: wrk, run for a fixed duration against one path, its text report parsed into
 * numbers. wrk keeps its connections alive, so every path is measured in its steady state.
 */
import { LOAD, type LoadPhase, MESH } from "./params.js";
import { spawnTracked, stopTracked } from "./processes.js";

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors and timeouts plus non-2xx/3xx responses. */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot read the duration "${text}"`);
  return Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? Number.NaN);
}

/** Parses wrk's report (run with --latency). Throws naming what is missing. */
export function parseWrk(report: string): WrkResult {
  const line = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(report);
    if (!m) throw new Error(`wrk: no ${what} in the report:\n${report}`);
    return m;
  };
  const p50 = line(/^\s*50%\s+(\S+)/m, "50th percentile")[1] ?? "";
  const p99 = line(/^\s*99%\s+(\S+)/m, "99th percentile")[1] ?? "";
  const requests = Number(line(/^\s*(\d+) requests in/m, "request count")[1]);
  const rps = Number(line(/^Requests\/sec:\s+([\d.]+)/m, "Requests/sec")[1]);
  let errors = 0;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  if (socket) errors += socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(report);
  if (non2xx) errors += Number(non2xx[1]);
  return { requests, rps, p50Ms: durationMs(p50), p99Ms: durationMs(p99), errors };
}

/** Runs one wrk phase against host:port; every path gets the same Host header and URL. */
export async function runWrk(target: string, phase: LoadPhase): Promise<WrkResult> {
  const args = [
    `-t${phase.threads}`,
    `-c${phase.connections}`,
    `-d${phase.durationS}s`,
    `--timeout=${LOAD.requestTimeoutS}s`,
    "--latency",
    "-H",
    `Host: ${MESH.host}`,
    `http://${target}/`,
  ];
  const wrk = spawnTracked("wrk", "wrk", args);
  // wrk stops by itself after the duration; the margin covers start-up and the final report.
  const limit = setTimeout(() => void stopTracked(wrk), (phase.durationS + 15) * 1000);
  const code = await wrk.exited;
  clearTimeout(limit);
  await stopTracked(wrk);
  const report = wrk.lines.join("\n");
  if (code !== 0) throw new Error(`wrk ${args.join(" ")} exited ${code}:\n${report}\n${wrk.stderr()}`);
  return parseWrk(report);
}
