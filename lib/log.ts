/**
 * Structured logs for every Trellis process: JSON lines on stderr (pino), one logger per module.
 * `TRELLIS_LOG=debug|info|warn|error` sets the level (default info); `TRELLIS_TRACE=outbound,balance`
 * turns on debug logs for just those modules.
 */
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

const root: Logger = pino(
  {
    level: process.env.TRELLIS_LOG ?? "info",
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  // Synchronous, as Node writes stderr to pipes: a line is out before the next one is made, and a reader
  // that has gone away (EPIPE) turns logging off. Buffered lines would instead be flushed at exit by a
  // loop that retries a broken pipe forever, so a process whose parent died could never finish exiting.
  pino.destination({ fd: 2, sync: true }),
);
const traced = new Set((process.env.TRELLIS_TRACE ?? "").split(",").filter(Boolean));

/** The logger of one module; debug logs appear when the module is named in TRELLIS_TRACE. */
export function logger(module: string, bindings: Record<string, unknown> = {}): Logger {
  const child = root.child({ module, ...bindings });
  if (traced.has(module) || traced.has("all")) child.level = "debug";
  return child;
}
