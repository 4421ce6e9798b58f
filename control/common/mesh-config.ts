/**
 * What `meshctl install` and the injector agree on about an installed mesh: the keys of the
 * `trellis-config` ConfigMap and the name of the trust anchors' ConfigMap (install writes them, the
 * injector and `meshctl check` read them), and the pod fragments both render the same way (resources,
 * the projected identity token).
 */
import { IDENTITY_TOKEN_AUDIENCE } from "../../lib/spiffe.js";

/** The name of the ConfigMap in the control plane's namespace. */
export const CONFIG_CONFIGMAP = "trellis-config";
/** The ConfigMap of the trust anchors (PEM under {@link TRUST_ROOTS_KEY}), beside `trellis-config`. */
export const TRUST_ROOTS_CONFIGMAP = "trellis-identity-trust-roots";
export const TRUST_ROOTS_KEY = "ca-bundle.crt";

/**
 * The keys of `trellis-config`. Strings all (ConfigMap data); absent keys mean "not set" (a proxy
 * resource without a limit).
 */
export interface MeshConfig {
  version: string;
  namespace: string;
  clusterDomain: string;
  trustDomain: string;
  /** The image of injected proxies. */
  proxyImage: string;
  proxyUid: string;
  proxyLogLevel: string;
  proxyCpuRequest?: string;
  proxyCpuLimit?: string;
  proxyMemoryRequest?: string;
  proxyMemoryLimit?: string;
  /** host:port and SPIFFE ID a proxy asks for its certificate. */
  identityServiceAddr: string;
  identityServiceName: string;
  /** host:port and SPIFFE ID a proxy asks for endpoints and profiles. */
  destinationServiceAddr: string;
  destinationServiceName: string;
  /** The leaves' lifetime (a Go duration). */
  identityIssuanceLifetime: string;
  /** "true" when the issuer Secret is not managed by meshctl. */
  identityExternalIssuer: string;
  highAvailability: string;
}

/** CPU and memory as Kubernetes quantities; an absent one is not set. */
export interface Resources {
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
}

/** A container's `resources`: only what is set, and no empty `requests` or `limits`. */
export function resourceRequirements(r: Resources): {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
} {
  const pick = (cpu?: string, memory?: string) => ({
    ...(cpu !== undefined ? { cpu } : {}),
    ...(memory !== undefined ? { memory } : {}),
  });
  const requests = pick(r.cpuRequest, r.memoryRequest);
  const limits = pick(r.cpuLimit, r.memoryLimit);
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

// kubelet refreshes a projected token at 80 % of its life; its readers read it again on every Certify.
const TOKEN_EXPIRATION_SECONDS = 3600;

/** The projected ServiceAccount token a proxy or controller proves its identity with, as `token`. */
export function identityTokenVolume(name: string): {
  name: string;
  projected: {
    sources: { serviceAccountToken: { audience: string; expirationSeconds: number; path: string } }[];
  };
} {
  return {
    name,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: IDENTITY_TOKEN_AUDIENCE,
            expirationSeconds: TOKEN_EXPIRATION_SECONDS,
            path: "token",
          },
        },
      ],
    },
  };
}
