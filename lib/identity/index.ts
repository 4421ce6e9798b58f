/**
 * The identity client, shared by the proxy and the destination service (each for its own
 * certificate): it owns a workload's private key and certificate. The identity client generates
 * an ECDSA P-256 key in memory, proves the workload's ServiceAccount to the identity service (Certify
 * over TLS, the service verified by its SPIFFE ID), checks the certificate it gets back, and renews it
 * at 70 % of its life, retrying with jittered backoff while still serving the current certificate.
 * Everything that speaks mesh TLS reads the certificate through the CredentialSource seam, never from
 * this module's internals.
 */
export {
  CERTIFY_TIMEOUT_MS,
  IdentityClient,
  type IdentityClientStatus,
  type IdentityState,
  type IdentityTransition,
} from "./client.js";
export { type CredentialSource, type Credentials, StaticCredentials } from "./credentials.js";
export {
  type CertifyFailure,
  IDENTITY_CLIENT_ERRORS,
  IdentityClientError,
  type IdentityClientErrorCode,
} from "./errors.js";
export { CredentialsCertificateProvider, TrustAnchorsProvider } from "./grpc.js";
export type { IdentityClientOptions } from "./options.js";
export { IDENTITY_CLIENT_TIMING_DEFAULTS, REFRESH_FRACTION, refreshDelayMs } from "./timing.js";
