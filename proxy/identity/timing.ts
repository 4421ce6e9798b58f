/**
 * When to renew and when to retry: pure functions of the clock and a random source, so tests can pin
 * both.
 */

/** The share of the remaining validity after which a certificate is renewed. */
export const REFRESH_FRACTION = 0.7;

/**
 * How long to wait before renewing a certificate received at `nowMs`: 70 % of its remaining validity,
 * clamped to [minRefreshMs, maxRefreshMs].
 *
 * The remaining validity (notAfter − now), not notAfter − notBefore, is the base: the identity service
 * back-dates notBefore to absorb clock skew, which would push renewal of a short-lived certificate past
 * its expiry.
 */
export function refreshDelayMs(
  notAfterMs: number,
  nowMs: number,
  minRefreshMs: number,
  maxRefreshMs: number,
): number {
  const remaining = Math.max(0, notAfterMs - nowMs);
  return clamp(Math.round(remaining * REFRESH_FRACTION), minRefreshMs, maxRefreshMs);
}

/**
 * The next retry delay, with decorrelated jitter: uniform in [base, 3 × previous], capped at `capMs`.
 * The first retry (no previous delay) waits between base and 3 × base. Unlike full jitter, the delay
 * never drops below base, so a failing service is never hammered, while retries of many proxies that
 * failed together still spread out.
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

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
