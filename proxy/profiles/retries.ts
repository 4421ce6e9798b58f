/**
 * The retry budget of a service (ServiceProfile `retryBudget`): over a sliding window of `ttlMs`,
 * retries may add at most `retryRatio` of the requests plus `minRetriesPerSecond` per second of
 * the window, so retries can never multiply the load on a struggling service.
 */

export interface RetryBudgetOptions {
  retryRatio: number;
  minRetriesPerSecond: number;
  ttlMs: number;
}

/** Linkerd's defaults: 20 % more requests, at least 10 retries a second, over 10 s. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = {
  retryRatio: 0.2,
  minRetriesPerSecond: 10,
  ttlMs: 10_000,
};

/** Request bodies up to this size are kept so a retry can send them again; larger ones are not retried. */
export const MAX_RETRY_BODY_BYTES = 64 * 1024;

export class RetryBudget {
  private readonly requests: number[] = [];
  private readonly retries: number[] = [];

  constructor(
    private readonly options: RetryBudgetOptions = DEFAULT_RETRY_BUDGET,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records an original request (a deposit). */
  request(): void {
    this.requests.push(this.now());
  }

  /** Takes one retry from the budget if there is one left in the window. */
  tryRetry(): boolean {
    const now = this.now();
    const since = now - this.options.ttlMs;
    while (this.requests.length > 0 && (this.requests[0] ?? 0) < since) this.requests.shift();
    while (this.retries.length > 0 && (this.retries[0] ?? 0) < since) this.retries.shift();
    const allowed =
      this.options.retryRatio * this.requests.length +
      (this.options.minRetriesPerSecond * this.options.ttlMs) / 1000;
    if (this.retries.length + 1 > allowed) return false;
    this.retries.push(now);
    return true;
  }
}
