/**
 * The identity service's error catalogue. Every code is stable: it appears in log lines, in the details
 * of refused Certify calls and in startup failures, so operators can search for it. Never reuse a code
 * for another meaning; retire it instead. Each refusal of a request maps to exactly one gRPC status,
 * the one the Certify contract in identity.proto documents.
 */
import { status } from "@grpc/grpc-js";
import {
  type AnsweringCode,
  type CatalogueEntry,
  type Refusal as CatalogueRefusal,
  catalogue,
} from "../../lib/errors.js";

/** Every failure of the identity service, by stable code. */
export const IDENTITY_ERRORS = {
  // ── Refused Certify requests ─────────────────────────────────────────────────────────────────────
  /** A field of CertifyRequest is empty: identity, token or certificate_signing_request. */
  TRELLIS_E_IDENTITY_MISSING_FIELD: { summary: "a required field is missing", grpc: status.INVALID_ARGUMENT },
  /** The requested identity is not `spiffe://<our trust domain>/ns/<ns>/sa/<sa>`. */
  TRELLIS_E_IDENTITY_BAD_IDENTITY: {
    summary: "the requested identity is not a SPIFFE ID of this trust domain",
    grpc: status.INVALID_ARGUMENT,
  },
  /** The CSR is not a DER PKCS#10 request (PEM is refused too: the proto says DER). */
  TRELLIS_E_IDENTITY_CSR_MALFORMED: {
    summary: "the certificate signing request does not parse",
    grpc: status.INVALID_ARGUMENT,
  },
  /** The CSR's signature does not verify with its own key: no proof that the caller holds the key. */
  TRELLIS_E_IDENTITY_CSR_SIGNATURE: {
    summary: "the certificate signing request's signature does not verify",
    grpc: status.INVALID_ARGUMENT,
  },
  /** The token did not authenticate (bad signature, wrong audience, expired, not a ServiceAccount). */
  TRELLIS_E_IDENTITY_TOKEN_REJECTED: {
    summary: "the token does not authenticate",
    grpc: status.UNAUTHENTICATED,
  },
  /** The token could not be checked (TokenReview failed: API server unreachable, RBAC). Retry later. */
  TRELLIS_E_IDENTITY_TOKEN_REVIEW_FAILED: {
    summary: "the token could not be reviewed",
    grpc: status.UNAVAILABLE,
  },
  /** The requested identity is not the token's ServiceAccount. */
  TRELLIS_E_IDENTITY_IDENTITY_MISMATCH: {
    summary: "the requested identity differs from the token's service account",
    grpc: status.PERMISSION_DENIED,
  },
  /** The CSR's URI SAN is not the token's ServiceAccount, or the CSR names no URI at all. */
  TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH: {
    summary: "the certificate signing request names another identity",
    grpc: status.PERMISSION_DENIED,
  },
  /** The CSR carries DNS, IP, email or other SANs, or more than one URI. Only the identity URI may be asked for. */
  TRELLIS_E_IDENTITY_CSR_EXTRA_SANS: {
    summary: "the certificate signing request has other SANs",
    grpc: status.FAILED_PRECONDITION,
  },
  /** The CSR's key is not ECDSA P-256 (RSA, P-384, Ed25519 are refused). */
  TRELLIS_E_IDENTITY_CSR_KEY_TYPE: {
    summary: "the certificate signing request's key is not ECDSA P-256",
    grpc: status.FAILED_PRECONDITION,
  },
  /** The loaded issuer is not valid now (expired or not yet valid). Rotate the issuer certificate. */
  TRELLIS_E_IDENTITY_NO_VALID_ISSUER: { summary: "no valid issuer is loaded", grpc: status.UNAVAILABLE },
  /** Signing failed unexpectedly (WebCrypto). A bug or a broken key; see the log line. */
  TRELLIS_E_IDENTITY_SIGNING_FAILED: { summary: "signing the certificate failed", grpc: status.INTERNAL },

  // ── Loading the CA's files (at start: exit 1; on reload: refused, the previous issuer kept) ────────
  /** The trust anchors file holds no certificate, one that does not parse, or one that is not a CA. */
  TRELLIS_E_IDENTITY_TRUST_ANCHORS: { summary: "the trust anchors are unusable" },
  /** The issuer certificate does not parse or is not a CA. */
  TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE: { summary: "the issuer certificate is unusable" },
  /** The issuer key does not parse, is not ECDSA P-256, or does not match the issuer certificate. */
  TRELLIS_E_IDENTITY_ISSUER_KEY: { summary: "the issuer key is unusable" },
  /** The issuer certificate is not signed by any of the trust anchors. */
  TRELLIS_E_IDENTITY_ISSUER_UNTRUSTED: { summary: "the issuer does not chain to the trust anchors" },
  /** The issuer certificate (or the anchor it chains to) is expired or not yet valid. */
  TRELLIS_E_IDENTITY_ISSUER_EXPIRED: { summary: "the issuer certificate is not valid now" },
  /** A file of the CA could not be read (missing, permissions). */
  TRELLIS_E_IDENTITY_FILE_UNREADABLE: { summary: "a CA file cannot be read" },

  // ── Process-level ─────────────────────────────────────────────────────────────────────────────────
  /** A flag or option is invalid (exit 2 from the command line). */
  TRELLIS_E_IDENTITY_OPTIONS: { summary: "invalid identity service options" },
  /** The local token verifier's public key file is unreadable or not an EC P-256 public key. */
  TRELLIS_E_IDENTITY_TOKEN_KEY: { summary: "the local token public key is unusable" },
  /** The service could not issue or install its own serving certificate. */
  TRELLIS_E_IDENTITY_SERVING_CERTIFICATE: { summary: "the service's own certificate could not be renewed" },
  /** A listener could not bind (address in use, permission). */
  TRELLIS_E_IDENTITY_LISTEN: { summary: "cannot listen" },
} as const satisfies Record<string, CatalogueEntry>;

export type IdentityErrorCode = keyof typeof IDENTITY_ERRORS;

/** The codes that answer a Certify request. */
export type CertifyErrorCode = AnsweringCode<typeof IDENTITY_ERRORS>;

/** An expected failure, returned rather than thrown. */
export type Refusal<C extends IdentityErrorCode = IdentityErrorCode> = CatalogueRefusal<C>;

export const { refuse, grpcStatusOf, describe } = catalogue(IDENTITY_ERRORS);

/** Thrown for bad options and unusable files at start; the entry point turns it into an exit code. */
export class IdentityError extends Error {
  override name = "IdentityError";
  constructor(
    readonly code: IdentityErrorCode,
    readonly reason: string,
  ) {
    super(describe(code, reason));
  }
}
