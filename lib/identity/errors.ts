/**
 * The identity client's error catalogue. Every code is stable: it appears in logs and in the failures
 * `certify()` returns, so operators can search for it. Never reuse a code for another meaning; retire
 * it instead. Entries have the one catalogue shape (lib/errors.ts); none answers a request, so none
 * carries a gRPC or HTTP status.
 */
import { type CatalogueEntry, catalogue } from "../errors.js";

/** Every failure of the identity client, by stable code, with what it means and what to do. */
export const IDENTITY_CLIENT_ERRORS = {
  /** The options passed to the client are invalid: a bug in the caller or a bad configuration. Thrown. */
  TRELLIS_E_IDENTITY_CLIENT_OPTIONS: { summary: "invalid identity client options" },
  /** The token file could not be read or is empty. Check TRELLIS_PROXY_IDENTITY_TOKEN_FILE and the projected volume. */
  TRELLIS_E_IDENTITY_CLIENT_TOKEN: { summary: "cannot read the ServiceAccount token" },
  /** Generating the key or the CSR failed (node:crypto). */
  TRELLIS_E_IDENTITY_CLIENT_KEY: { summary: "cannot generate the key or the certificate signing request" },
  /** The identity service's certificate does not carry the expected SPIFFE ID (TRELLIS_PROXY_IDENTITY_SVC_NAME). */
  TRELLIS_E_IDENTITY_CLIENT_SERVER_IDENTITY: { summary: "the identity service presented another identity" },
  /** The Certify call failed: the service is unreachable, refused the request, or timed out. */
  TRELLIS_E_IDENTITY_CLIENT_RPC: { summary: "the Certify call failed" },
  /** The returned leaf or an intermediate is not a parseable DER certificate. */
  TRELLIS_E_IDENTITY_CLIENT_MALFORMED: { summary: "the identity service returned a malformed certificate" },
  /** The returned leaf certifies another key than the one in our CSR. */
  TRELLIS_E_IDENTITY_CLIENT_KEY_MISMATCH: { summary: "the certificate is for another key" },
  /** The returned leaf does not name exactly our identity as its only URI SAN, or it is a CA. */
  TRELLIS_E_IDENTITY_CLIENT_SAN_MISMATCH: { summary: "the certificate names another identity" },
  /** The leaf does not chain through the intermediates to one of the trust anchors. */
  TRELLIS_E_IDENTITY_CLIENT_UNTRUSTED: { summary: "the certificate does not chain to the trust anchors" },
  /** The leaf is already expired or not yet valid (check the clocks of the proxy and the identity service). */
  TRELLIS_E_IDENTITY_CLIENT_VALIDITY: { summary: "the certificate is not valid now" },
} as const satisfies Record<string, CatalogueEntry>;

export type IdentityClientErrorCode = keyof typeof IDENTITY_CLIENT_ERRORS;

/** One failed Certify attempt: an expected outcome, returned rather than thrown. */
export interface CertifyFailure {
  readonly code: IdentityClientErrorCode;
  /** What happened, with the details (gRPC status, file path, SAN found...). */
  readonly message: string;
  /** The gRPC status code, when the call itself failed. */
  readonly grpcCode?: number;
}

/** `CODE: summary: detail`. */
export const { describe } = catalogue(IDENTITY_CLIENT_ERRORS);

/** A failed attempt; its message is `summary: detail` (the code travels beside it). */
export function failure(code: IdentityClientErrorCode, detail: string, grpcCode?: number): CertifyFailure {
  const message = `${IDENTITY_CLIENT_ERRORS[code].summary}: ${detail}`;
  return grpcCode === undefined ? { code, message } : { code, message, grpcCode };
}

/** Thrown for bad options (a bug or a bad configuration), never for an expected failure. */
export class IdentityClientError extends Error {
  override name = "IdentityClientError";
  constructor(
    readonly code: IdentityClientErrorCode,
    detail: string,
  ) {
    super(describe(code, detail));
  }
}
