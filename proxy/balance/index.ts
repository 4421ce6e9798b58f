/**
 * Per-request load balancing: power of two choices over peak-EWMA latency, with failure accrual.
 * Each pick draws two endpoints at random and takes the one whose cost (its latency estimate times
 * its requests in flight plus one) is lower; the estimate jumps up at once on a slow response and
 * decays back over `decayMs`, so a slowing endpoint loses traffic quickly and regains it gradually.
 * An endpoint that fails `maxFailures` times in a row is taken out; after a backoff (lib/backoff.ts:
 * decorrelated jitter between `backoffBaseMs` and `backoffMaxMs`, growing while probes fail) one
 * request probes it, and a success brings it back. Endpoints are compared only with each other, so
 * the balancer needs no configuration per service.
 */
import { Backoff } from "../../lib/backoff.js";
import { DEFAULTS } from "../config.js";

export interface BalancerOptions {
  /** How fast the latency estimate forgets, ms (Linkerd: 10 s). */
  decayMs: number;
  /**
   * The estimate of an endpoint nothing is known about yet, ms. Zero is optimistic: a new endpoint
   * gets requests at once, and its first slow answer (peak EWMA) sends them elsewhere just as fast.
   */
  defaultRttMs: number;
  /** Consecutive failures that take an endpoint out. */
  maxFailures: number;
  /** Shortest and longest wait before probing an ejected endpoint, ms. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Clock and randomness (the picks' and the backoff's), for tests. */
  now?: () => number;
  random?: () => number;
}

export const DEFAULT_BALANCER: BalancerOptions = {
  decayMs: 10_000,
  defaultRttMs: 0,
  maxFailures: DEFAULTS.FAILURE_ACCRUAL_CONSECUTIVE_FAILURES,
  backoffBaseMs: DEFAULTS.FAILURE_ACCRUAL_MIN_PENALTY_MS,
  backoffMaxMs: DEFAULTS.FAILURE_ACCRUAL_MAX_PENALTY_MS,
};

/**
 * What the caller reports when the request it picked the endpoint for is done: whether it succeeded,
 * and the time to the response's first byte when there was one (else the time until now counts).
 */
export type Release = (outcome: { ok: boolean; rttMs?: number }) => void;

interface State<E> {
  endpoint: E;
  ewmaMs: number;
  stamp: number;
  pending: number;
  failures: number;
  ejectedUntil: number;
  backoff: Backoff;
  probing: boolean;
}

export class P2cBalancer<E> {
  private states: State<E>[] = [];
  private readonly options: BalancerOptions;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(endpoints: readonly E[], options: Partial<BalancerOptions> = {}) {
    this.options = { ...DEFAULT_BALANCER, ...options };
    this.now = this.options.now ?? (() => performance.now());
    this.random = this.options.random ?? Math.random;
    this.update(endpoints);
  }

  /** Replaces the endpoint set; endpoints that stay keep what was learned about them. */
  update(endpoints: readonly E[]): void {
    const old = new Map(this.states.map((s) => [s.endpoint, s]));
    this.states = endpoints.map(
      (endpoint) =>
        old.get(endpoint) ?? {
          endpoint,
          ewmaMs: this.options.defaultRttMs,
          stamp: this.now(),
          pending: 0,
          failures: 0,
          ejectedUntil: 0,
          backoff: new Backoff(this.options.backoffBaseMs, this.options.backoffMaxMs, this.random),
          probing: false,
        },
    );
  }

  get size(): number {
    return this.states.length;
  }

  /**
   * The endpoint for one request and the function to call when it is done; undefined when empty.
   * `avoid`: endpoints this request already failed on before reaching an app; undefined when only
   * those are left.
   */
  pick(avoid?: ReadonlySet<E>): { endpoint: E; release: Release } | undefined {
    const now = this.now();
    const states = avoid && avoid.size > 0 ? this.states.filter((s) => !avoid.has(s.endpoint)) : this.states;
    // An ejected endpoint whose backoff is over gets the next request as its probe.
    const probe = states.find((s) => s.ejectedUntil > 0 && s.ejectedUntil <= now && !s.probing);
    let chosen: State<E>;
    if (probe) {
      probe.probing = true;
      chosen = probe;
    } else {
      const available = states.filter((s) => s.ejectedUntil <= now && !s.probing);
      // With every endpoint out, the one due back soonest is tried rather than failing outright.
      const pool =
        available.length > 0
          ? available
          : states
              .filter((s) => !s.probing)
              .sort((a, b) => a.ejectedUntil - b.ejectedUntil)
              .slice(0, 1);
      if (pool.length === 0) return undefined;
      chosen = pool[0] as State<E>;
      if (pool.length > 1) {
        const i = Math.floor(this.random() * pool.length);
        let j = Math.floor(this.random() * (pool.length - 1));
        if (j >= i) j++;
        const a = pool[i] as State<E>;
        const b = pool[j] as State<E>;
        chosen = this.cost(a, now) <= this.cost(b, now) ? a : b;
      }
    }
    chosen.pending++;
    const start = now;
    let released = false;
    return {
      endpoint: chosen.endpoint,
      release: ({ ok, rttMs }) => {
        if (released) return;
        released = true;
        this.observe(chosen, rttMs ?? this.now() - start, ok);
      },
    };
  }

  private cost(s: State<E>, now: number): number {
    // The floor keeps requests in flight deciding between endpoints whose estimate is still zero.
    return Math.max(this.decayed(s, now), 0.001) * (s.pending + 1);
  }

  private decayed(s: State<E>, now: number): number {
    const elapsed = Math.max(now - s.stamp, 0);
    return s.ewmaMs * Math.exp(-elapsed / this.options.decayMs);
  }

  private observe(s: State<E>, rttMs: number, ok: boolean): void {
    const now = this.now();
    s.pending = Math.max(s.pending - 1, 0);
    // Peak EWMA: a slower observation replaces the estimate at once; faster ones blend in.
    const current = this.decayed(s, now);
    const w = Math.exp(-Math.max(now - s.stamp, 0) / this.options.decayMs);
    s.ewmaMs = rttMs > current ? rttMs : current * w + rttMs * (1 - w);
    s.stamp = now;
    const wasProbe = s.probing;
    s.probing = false;
    if (ok) {
      s.failures = 0;
      s.ejectedUntil = 0;
      s.backoff.reset();
      return;
    }
    s.failures++;
    if (wasProbe || s.failures >= this.options.maxFailures) {
      s.ejectedUntil = now + s.backoff.next();
    }
  }

  /** For metrics and debugging: which endpoints are out and for how long. */
  ejected(): E[] {
    const now = this.now();
    return this.states.filter((s) => s.ejectedUntil > now).map((s) => s.endpoint);
  }
}
