/** When to renew a certificate: a pure function of the clock, so tests can pin it. */

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

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
