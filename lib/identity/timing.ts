/**
 * When to renew a certificate and how long to wait between failed attempts: the defaults every
 * identity client starts from (the proxy's TRELLIS_PROXY_IDENTITY_* variables override them), and the
 * renewal delay as a pure function of the clock, so tests can pin it.
 */

/** The identity client's renewal and retry timing when nothing else is configured. */
export const IDENTITY_CLIENT_TIMING_DEFAULTS = {
  /** Renew no sooner than this after a certificate arrives. */
  minRefreshMs: 1_000,
  /** Renew no later than this after a certificate arrives (a day). */
  maxRefreshMs: 86_400_000,
  /** The shortest wait before retrying a failed Certify. */
  retryBaseMs: 500,
  /** The longest wait between retries. */
  retryMaxMs: 30_000,
} as const;

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
