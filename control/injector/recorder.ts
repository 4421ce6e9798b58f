/**
 * Writes Events beside the admission path, never on it: an answer to the API server never waits for
 * an Event. A few are written at once; past a bounded backlog new ones are dropped and counted, so a
 * burst of pod creations (a large rollout) cannot grow the injector's memory or flood the API server.
 */
import type { Logger } from "../../lib/log.js";
import type { InjectorMetrics } from "./metrics.js";
import type { InjectorSources } from "./sources.js";
import type { Obj } from "./workloads.js";

export const EVENT_CONCURRENCY = 4;
export const MAX_PENDING_EVENTS = 256;

export class EventRecorder {
  private readonly queue: Obj[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly write: InjectorSources["writeEvent"],
    private readonly metrics: InjectorMetrics,
    private readonly log: Logger,
    private readonly maxPending = MAX_PENDING_EVENTS,
  ) {}

  /** Queues an Event; returns at once. */
  record(event: Obj): void {
    if (this.queue.length >= this.maxPending) {
      this.metrics.events.inc({ result: "dropped" });
      this.log.debug({ pending: this.queue.length }, "too many Events waiting; dropped one");
      return;
    }
    this.queue.push(event);
    this.pump();
  }

  /** Resolves once nothing is waiting or being written. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < EVENT_CONCURRENCY && this.queue.length > 0) {
      const event = this.queue.shift() as Obj;
      this.running++;
      void this.write(event).then((r) => {
        this.running--;
        this.metrics.events.inc({ result: r.ok ? "written" : "failed" });
        if (!r.ok) this.log.warn({ reason: r.reason }, "writing an Event failed");
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }
}
