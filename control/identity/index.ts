/**
 * The identity service: the mesh CA. It owns the issuer (loaded from watched files, validated against
 * the trust anchors, swapped live when the files change), decides Certify requests (a ServiceAccount
 * token proves an identity; the CSR must ask for exactly that identity with an ECDSA P-256 key it
 * holds), signs 24 h leaf certificates that are never CAs, and serves all of that over TLS with a
 * certificate for its own SPIFFE ID issued by the same CA. Token checking sits behind TokenVerifier
 * (control/common): TokenReview in a cluster (kubernetes-verifier.ts, through control/k8s), a local
 * key in the local mesh (control/local); refusals carry stable TRELLIS_E_IDENTITY_* codes (errors.ts)
 * that map one to one onto the gRPC statuses identity.proto documents.
 */

export type { TokenVerdict, TokenVerifier } from "../common/token-verifier.js";
export {
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
  DEFAULT_LEAF_LIFETIME_MS,
  type Issued,
  type IssueOptions,
  type IssueResult,
} from "./ca.js";
export { identityCommand, runIdentity } from "./command.js";
export { IDENTITY_ERRORS, IdentityError, type IdentityErrorCode } from "./errors.js";
export { KubernetesTokenVerifier } from "./kubernetes-verifier.js";
export { type IdentityServiceOptions, type RunningIdentityService, startIdentityService } from "./server.js";
export { Certifier } from "./service.js";
