/**
 * Workload identities: SPIFFE IDs `spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>`, carried
 * as the only URI SAN of every mesh certificate. Shared by the identity service, the proxy and the CLI.
 */

/** The parts of a workload identity. */
export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** The audience of the projected ServiceAccount token a proxy presents to the identity service. */
export const IDENTITY_TOKEN_AUDIENCE = "identity.trellis.dev";

/** The default trust domain, as in Kubernetes' cluster domain. */
export const DEFAULT_TRUST_DOMAIN = "cluster.local";

// DNS-1123 label: what Kubernetes allows for namespace and ServiceAccount names.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// A trust domain is a DNS name: labels joined by dots.
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** True when the string is a valid DNS-1123 label (namespace, ServiceAccount). */
export function isDnsLabel(value: string): boolean {
  return LABEL.test(value);
}

/** True when the string is a valid trust domain. */
export function isTrustDomain(value: string): boolean {
  return value.length <= 253 && TRUST_DOMAIN.test(value);
}

/** Formats an identity as a SPIFFE ID. Throws on parts that are not valid names (a bug in the caller). */
export function formatSpiffeId(id: WorkloadIdentity): string {
  if (!isTrustDomain(id.trustDomain)) throw new Error(`invalid trust domain "${id.trustDomain}"`);
  if (!isDnsLabel(id.namespace)) throw new Error(`invalid namespace "${id.namespace}"`);
  if (!isDnsLabel(id.serviceAccount)) throw new Error(`invalid service account "${id.serviceAccount}"`);
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses a workload SPIFFE ID; undefined when the string is anything else. */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [, trustDomain, namespace, serviceAccount] = m as unknown as [string, string, string, string];
  if (!isTrustDomain(trustDomain) || !isDnsLabel(namespace) || !isDnsLabel(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/** The Kubernetes username of a ServiceAccount, as TokenReview reports it. */
export function serviceAccountUsername(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/**
 * Reads the URI SANs from Node's `subjectaltname` string (`URI:spiffe://..., DNS:...`), as found on
 * `tls.PeerCertificate` and `X509Certificate`.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((part) => part.startsWith("URI:"))
    .map((part) => part.slice(4));
}
