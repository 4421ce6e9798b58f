/**
 * Steady traffic through a client proxy while a test does something to the mesh: `workers` clients
 * sending GETs one after another (a pause between, so the load is steady rather than all the machine
 * has) until stopped or `max` were sent. Every answer that is not a 200 is a failure, named with the
 * proxy's error header.
 */
import { get, type TestProxy } from "./mesh.js";

export interface SteadyLoadOptions {
  /** Concurrent clients (default 2). */
  workers?: number;
  /** Requests at most, over all clients (default 20,000). */
  max?: number;
  /** Pause after each answer, ms (default 10). */
  pauseMs?: number;
  /** Each request's own bound, ms (default 30 s). */
  timeoutMs?: number;
}

export interface SteadyLoad {
  /** Requests sent so far. */
  sent(): number;
  /** Resolves once `count` requests have been answered (or failed). */
  reached(count: number): Promise<void>;
  /** Stops sending; resolves when the requests in flight are done. */
  stop(): Promise<{ sent: number; failures: string[] }>;
}

export function steadyLoad(proxy: TestProxy, authority: string, opts: SteadyLoadOptions = {}): SteadyLoad {
  const { workers = 2, max = 20_000, pauseMs = 10, timeoutMs = 30_000 } = opts;
  let stopped = false;
  let sent = 0;
  let done = 0;
  const failures: string[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const worker = async () => {
    while (!stopped && sent < max) {
      const n = ++sent;
      try {
        const res = await get(proxy.outbound, authority, `/r${n}`, timeoutMs);
        if (res.status !== 200)
          failures.push(`request ${n}: ${res.status} ${res.headers["trellis-proxy-error"]}`);
      } catch (err) {
        failures.push(`request ${n}: ${(err as Error).message}`);
      }
      done++;
      for (const w of waiters) if (w.count <= done) w.resolve();
      waiters = waiters.filter((w) => w.count > done);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    // Nothing more will be answered: nobody waits forever for a count the load never reaches.
    for (const w of waiters) w.resolve();
    waiters = [];
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  return {
    sent: () => sent,
    reached: (count) =>
      count <= done ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    async stop() {
      stopped = true;
      await running;
      return { sent, failures };
    },
  };
}
