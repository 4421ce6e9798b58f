/**
 * Resident memory of the sidecars, from /proc/<pid>/status (VmRSS), read once when idle and sampled
 * on a fixed interval while under load; the maximum sample is what the report shows.
 */
import { readFileSync } from "node:fs";
import { RSS_SAMPLE_MS } from "./params.js";

/** VmRSS of one process in MiB; 0 when it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The RSS of a group of processes (an nginx master and its worker count together). */
export function groupRssMb(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + rssMb(pid), 0);
}

/** Samples each named group every RSS_SAMPLE_MS until stop(), which returns each group's maximum. */
export function sampleRss(groups: Record<string, () => number[]>): { stop(): Record<string, number> } {
  const max: Record<string, number> = {};
  const sample = () => {
    for (const [name, pids] of Object.entries(groups))
      max[name] = Math.max(max[name] ?? 0, groupRssMb(pids()));
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return max;
    },
  };
}
