/**
 * Resident memory of the sidecars, from /proc/<pid>/status (VmRSS), read once when idle and sampled
 * on a fixed interval while under load; the maximum sample is what the report shows. Also the CPU
 * time (user + system, /proc/<pid>/stat) each sidecar spends, to report its cost per request.
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

const TICKS_PER_S = 100;

/** User plus system CPU time of a group of processes so far, ms; a process that is gone counts 0. */
export function groupCpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) start at state; utime and stime are 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / TICKS_PER_S;
}
