/**
 * The identity client's options and their validation. The proxy's config module fills them from the
 * TRELLIS_PROXY_IDENTITY_* variables; validation reports every bad option at once.
 */
import type { X509Certificate } from "node:crypto";
import { parseHostPort } from "../address.js";
import { parseSpiffeId } from "../spiffe.js";
import { IdentityClientError } from "./errors.js";
import { parsePemBundle } from "./verify.js";

/** What the identity client needs to obtain and renew the proxy's certificate. */
export interface IdentityClientOptions {
  /** The proxy's own SPIFFE ID, `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`: the only SAN it asks for. */
  identity: string;
  /** PEM of the trust anchors; verifies the identity service and every certificate it returns. */
  trustAnchorsPem: string;
  /** The projected ServiceAccount token's path; read again on every Certify call. */
  tokenFile: string;
  /** host:port of the identity service (an IP is fine: the SPIFFE ID, not the host, is verified). */
  svcAddr: string;
  /** The SPIFFE ID the identity service's certificate must carry as its URI SAN. */
  svcName: string;
  /** Renew no sooner than this after a certificate arrives, even when 70 % of its life is shorter. */
  minRefreshMs: number;
  /** Renew no later than this after a certificate arrives, even when 70 % of its life is longer. */
  maxRefreshMs: number;
  /** The shortest wait before retrying a failed Certify, and the base of the backoff. */
  retryBaseMs: number;
  /** The longest wait between retries. */
  retryMaxMs: number;
}

/** Validated options, with the trust anchors parsed. */
export interface ResolvedOptions extends IdentityClientOptions {
  anchors: readonly X509Certificate[];
}

/** Checks every option and throws one IdentityClientError listing all problems. */
export function resolveOptions(options: IdentityClientOptions): ResolvedOptions {
  const problems: string[] = [];
  if (!parseSpiffeId(options.identity))
    problems.push(`identity "${options.identity}" is not a workload SPIFFE ID`);
  if (!parseSpiffeId(options.svcName))
    problems.push(`svcName "${options.svcName}" is not a workload SPIFFE ID`);
  if (!parseHostPort(options.svcAddr)) {
    problems.push(`svcAddr "${options.svcAddr}" is not host:port`);
  }
  if (options.tokenFile.trim() === "") problems.push("tokenFile is empty");

  let anchors: X509Certificate[] = [];
  try {
    anchors = parsePemBundle(options.trustAnchorsPem);
    if (anchors.length === 0) problems.push("trustAnchorsPem holds no PEM certificate");
    else if (anchors.some((a) => !a.ca))
      problems.push("trustAnchorsPem holds a certificate that is not a CA");
  } catch (err) {
    problems.push(`trustAnchorsPem: ${(err as Error).message}`);
  }

  for (const name of ["minRefreshMs", "maxRefreshMs", "retryBaseMs", "retryMaxMs"] as const) {
    const value = options[name];
    if (!Number.isFinite(value) || value < 0)
      problems.push(`${name} must be a non-negative number, got ${value}`);
  }
  if (options.retryBaseMs <= 0) problems.push("retryBaseMs must be above 0");
  if (options.minRefreshMs > options.maxRefreshMs) problems.push("minRefreshMs is above maxRefreshMs");
  if (options.retryBaseMs > options.retryMaxMs) problems.push("retryBaseMs is above retryMaxMs");

  if (problems.length > 0)
    throw new IdentityClientError("TRELLIS_E_IDENTITY_CLIENT_OPTIONS", problems.join("; "));
  return { ...options, anchors };
}
