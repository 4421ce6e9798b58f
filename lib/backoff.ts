/**
 * The one backoff every retry loop uses: decorrelated jitter between a base and a cap. The delay
 * never drops below the base, so a failing service is never hammered, while retries of many clients
 * that failed together still spread out.
 */

/**
 * The next retry delay, with decorrelated jitter: uniform in [base, 3 × previous], capped at `capMs`.
 * The first retry (no previous delay) waits between base and 3 × base.
 *
 * @param random a source of uniform numbers in [0, 1); Math.random by default.
 */
export function nextBackoffMs(
  previousMs: number | undefined,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const upper = Math.max(baseMs, 3 * (previousMs ?? baseMs));
  const delay = baseMs + Math.floor(random() * (upper - baseMs));
  return Math.min(capMs, delay);
}

/** A retry loop's state: the delay before the next attempt grows on failure and starts over on success. */
export class Backoff {
  private previousMs: number | undefined;

  constructor(
    readonly baseMs: number,
    readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, after a failure. */
  next(): number {
    this.previousMs = nextBackoffMs(this.previousMs, this.baseMs, this.capMs, this.random);
    return this.previousMs;
  }

  /** After a success: the next failure waits the base again. */
  reset(): void {
    this.previousMs = undefined;
  }
}
