/**
 * The proxy's identity client: obtains the proxy's certificate from the identity service and keeps it
 * fresh, as a small explicit state machine that logs every transition with its reason.
 *
 *   idle ──start──► certifying ──ok──► ready ──70 % of life──► refreshing ──ok──► ready
 *                        │                                         │
 *                        └──fail──► backoff ◄────────fail──────────┘
 *                                     │ timer: refreshing while the current certificate is valid,
 *                                     ▼        certifying once it is not (or before the first one)
 *   any ──stop()──► stopped
 *
 * While refreshing or backing off, the current certificate keeps being served until its notAfter.
 *
 * Keys rotate: every attempt generates a fresh P-256 key and CSR. A leaked key is then worth at most one
 * certificate lifetime, and an answer can only ever be for the key of the attempt that asked for it.
 * Generating a P-256 key costs well under a millisecond, against a renewal every ~17 hours.
 */
import { nextBackoffMs } from "../backoff.js";
import { logger } from "../log.js";
import { type CertifyAttempt, type CertifyResult, certify } from "./certify.js";
import type { CredentialSource, Credentials } from "./credentials.js";
import type { CertifyFailure } from "./errors.js";
import { generateKeyMaterial } from "./keys.js";
import { type IdentityClientOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { refreshDelayMs } from "./timing.js";

export type { IdentityClientOptions } from "./options.js";

/** The states of the identity client; see the module comment for the transitions. */
export type IdentityState = "idle" | "certifying" | "ready" | "refreshing" | "backoff" | "stopped";

/** One state change, as logged and as delivered to onTransition listeners. */
export interface IdentityTransition {
  readonly from: IdentityState;
  readonly to: IdentityState;
  readonly reason: string;
  /** The failure that caused a move to backoff. */
  readonly failure?: CertifyFailure;
}

/** A snapshot for metrics and the admin endpoint. */
export interface IdentityClientStatus {
  readonly state: IdentityState;
  /** The current certificate's notAfter (identity_cert_expiration_timestamp_seconds); undefined before the first. */
  readonly notAfter: Date | undefined;
  /** Certificates obtained so far, the first included (identity_cert_refresh_count). */
  readonly refreshes: number;
  /** Failed attempts so far. */
  readonly failures: number;
  readonly lastFailure: CertifyFailure | undefined;
}

/** How long one Certify call may take, dial included. */
export const CERTIFY_TIMEOUT_MS = 10_000;
// setTimeout fires at once for delays above 2^31 − 1 ms (~24.8 days); wait at most that long.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class IdentityClient implements CredentialSource {
  private readonly options: ResolvedOptions;
  private readonly log;
  private state: IdentityState = "idle";
  private credentials: Credentials | undefined;
  private readonly listeners = new Set<(credentials: Credentials) => void>();
  private readonly transitionListeners = new Set<(transition: IdentityTransition) => void>();
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private attempt: CertifyAttempt | undefined;
  // Bumped by stop() so an attempt finishing afterwards is ignored.
  private generation = 0;
  private lastBackoffMs: number | undefined;
  private refreshes = 0;
  private failures = 0;
  private lastFailure: CertifyFailure | undefined;

  /** Validates the options; throws IdentityClientError (TRELLIS_E_IDENTITY_CLIENT_OPTIONS) listing every problem. */
  constructor(options: IdentityClientOptions) {
    this.options = resolveOptions(options);
    this.log = logger("identity", { identity: options.identity });
  }

  /** Starts obtaining the first certificate. Call once. */
  start(): void {
    if (this.state !== "idle") throw new Error(`identity client: start() called in state ${this.state}`);
    this.beginAttempt("start");
  }

  /** Cancels any call in flight and clears every timer; the client cannot be started again. */
  stop(): void {
    if (this.state === "stopped") return;
    this.generation++;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    this.timer = this.expiryTimer = undefined;
    this.attempt?.cancel();
    this.attempt = undefined;
    this.transition("stopped", "stop()");
    this.listeners.clear();
    this.transitionListeners.clear();
  }

  /** The current certificate while it is valid; undefined before the first and after it expires. */
  current(): Credentials | undefined {
    const c = this.credentials;
    return c && c.notAfter.getTime() > Date.now() ? c : undefined;
  }

  subscribe(listener: (credentials: Credentials) => void): () => void {
    this.listeners.add(listener);
    const now = this.current();
    if (now) listener(now);
    return () => this.listeners.delete(listener);
  }

  /** Calls the listener on every state change (tests, readiness, debugging). Returns the unsubscribe function. */
  onTransition(listener: (transition: IdentityTransition) => void): () => void {
    this.transitionListeners.add(listener);
    return () => this.transitionListeners.delete(listener);
  }

  status(): IdentityClientStatus {
    return {
      state: this.state,
      notAfter: this.credentials?.notAfter,
      refreshes: this.refreshes,
      failures: this.failures,
      lastFailure: this.lastFailure,
    };
  }

  /** identity_cert_refresh_count: certificates obtained so far. */
  get refreshCount(): number {
    return this.refreshes;
  }

  /** identity_cert_expiration_timestamp_seconds: the current certificate's notAfter. */
  get notAfter(): Date | undefined {
    return this.credentials?.notAfter;
  }

  private beginAttempt(reason: string): void {
    this.transition(this.current() ? "refreshing" : "certifying", reason);
    void this.runAttempt(this.generation);
  }

  private async runAttempt(generation: number): Promise<void> {
    const key = await generateKeyMaterial(this.options.identity);
    if (generation !== this.generation) return;
    let result: CertifyResult;
    if (!key.ok) {
      result = key;
    } else {
      this.attempt = certify({ ...this.options, timeoutMs: CERTIFY_TIMEOUT_MS }, key.key);
      result = await this.attempt.result;
      if (generation !== this.generation) return;
      this.attempt = undefined;
    }
    if (result.ok) this.onCertified(result.credentials);
    else this.onFailed(result.error);
  }

  private onCertified(credentials: Credentials): void {
    this.credentials = credentials;
    this.refreshes++;
    this.lastBackoffMs = undefined;
    this.lastFailure = undefined;
    const now = Date.now();
    const delay = refreshDelayMs(
      credentials.notAfter.getTime(),
      now,
      this.options.minRefreshMs,
      this.options.maxRefreshMs,
    );
    this.transition(
      "ready",
      `certified until ${credentials.notAfter.toISOString()}, renewing in ${delay} ms`,
    );
    this.schedule(delay, () => this.beginAttempt("renewal due"));
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(
      () =>
        this.log.warn({ state: this.state }, "certificate expired before a renewal succeeded; serving none"),
      Math.min(MAX_TIMER_MS, credentials.notAfter.getTime() - now),
    );
    for (const listener of [...this.listeners]) {
      try {
        listener(credentials);
      } catch (err) {
        this.log.error({ err }, "a credentials listener threw");
      }
    }
  }

  private onFailed(error: CertifyFailure): void {
    this.failures++;
    this.lastFailure = error;
    const delay = nextBackoffMs(this.lastBackoffMs, this.options.retryBaseMs, this.options.retryMaxMs);
    this.lastBackoffMs = delay;
    const serving = this.current();
    const still = serving
      ? `serving the current certificate until ${serving.notAfter.toISOString()}`
      : "no certificate";
    this.transition("backoff", `${error.message}; retrying in ${delay} ms, ${still}`, error);
    this.schedule(delay, () => this.beginAttempt("retry after backoff"));
  }

  private schedule(delayMs: number, fn: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        fn();
      },
      Math.min(MAX_TIMER_MS, delayMs),
    );
  }

  private transition(to: IdentityState, reason: string, failure?: CertifyFailure): void {
    const from = this.state;
    this.state = to;
    const fields = {
      from,
      to,
      reason,
      ...(failure ? { code: failure.code, grpcCode: failure.grpcCode } : {}),
    };
    if (to === "backoff") this.log.warn(fields, "identity state");
    else this.log.info(fields, "identity state");
    const transition: IdentityTransition = failure ? { from, to, reason, failure } : { from, to, reason };
    for (const listener of [...this.transitionListeners]) listener(transition);
  }
}
