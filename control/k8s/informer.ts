/**
 * An informer that comes back. An informer that errors stops for good in @kubernetes/client-node, so
 * this one restarts it after a backoff (lib/backoff.ts: jittered, from 500 ms up to 30 s by default,
 * starting over once it lists again), logging each transition:
 *
 *   starting ──listed──► synced ──error──► backing off ──timer──► starting
 *
 * Every add, update or delete, and every successful (re-)list, calls onEvent; the caller reads the
 * whole cache with list(), so a repeated event after a re-list changes nothing.
 */
import {
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import { Backoff } from "../../lib/backoff.js";
import type { Logger } from "../../lib/log.js";
import type { ListWatch } from "./resources.js";

export const INFORMER_BACKOFF_INITIAL_MS = 500;
export const INFORMER_BACKOFF_MAX_MS = 30_000;

export interface RestartingInformerOptions {
  /** The shortest wait after a failure; waits grow with each failure in a row. */
  backoffInitialMs?: number;
  /** The longest wait between restarts. */
  backoffMaxMs?: number;
  log: Logger;
  /** Called on every change to the cache and after every successful list. */
  onEvent: () => void;
}

/** One informer and its restart state machine. */
export class RestartingInformer<K extends string = string> {
  /** True once the informer has listed successfully (it stays true across restarts). */
  synced = false;
  private readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private failedThisStart = false;
  private stopped = false;
  private readonly waiters: (() => void)[] = [];

  /** Makes the informer; nothing is listed before start(). `kind` names it in log lines. */
  constructor(
    readonly kind: K,
    kc: KubeConfig,
    listWatch: ListWatch,
    private readonly options: RestartingInformerOptions,
  ) {
    this.informer = makeInformer(kc, listWatch.path, listWatch.list);
    this.backoff = new Backoff(
      options.backoffInitialMs ?? INFORMER_BACKOFF_INITIAL_MS,
      options.backoffMaxMs ?? INFORMER_BACKOFF_MAX_MS,
    );
    for (const verb of ["add", "update", "delete"] as const) this.informer.on(verb, () => options.onEvent());
    this.informer.on("error", (err) => {
      this.failedThisStart = true;
      if (this.stopped) return;
      const delay = this.backoff.next();
      options.log.warn(
        { kind, err: (err as Error)?.message ?? String(err), retryInMs: delay },
        "informer failed; restarting after backoff",
      );
      this.timer = setTimeout(() => void this.start(), delay);
      this.timer.unref();
    });
  }

  /** Lists and starts watching; a failure schedules the next start after backoff. */
  async start(): Promise<void> {
    if (this.stopped) return;
    this.failedThisStart = false;
    await this.informer.start().catch(() => {
      this.failedThisStart = true;
    });
    if (this.failedThisStart || this.stopped) return;
    this.backoff.reset();
    if (!this.synced) this.options.log.info({ kind: this.kind }, "informer synced");
    this.synced = true;
    this.options.onEvent();
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the informer has listed successfully. */
  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Every object in the cache. */
  list(): readonly KubernetesObject[] {
    return this.informer.list();
  }

  /** One object of the cache by name (and namespace, for a namespaced kind); undefined when absent. */
  get(name: string, namespace?: string): KubernetesObject | undefined {
    return this.informer.get(name, namespace);
  }

  /** Stops watching and restarting for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}
