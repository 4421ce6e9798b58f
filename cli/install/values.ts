/**
 * What `meshctl install` renders from: every choice the flags make, with its default, checked and
 * resolved into one plain value before anything is rendered. Pure: the same flags give the same values.
 */

import { InvalidArgumentError } from "commander";
import { dnsLabel, positiveDuration, trustDomain } from "../../control/common/flags.js";
import type { Resources } from "../../control/common/mesh-config.js";
import { formatSpiffeId } from "../../lib/spiffe.js";
import { UsageError } from "../errors.js";
import { VERSION } from "../version.js";
import { IMAGE_REGISTRY, imageRef } from "./image.js";

// The levels an injected proxy takes: the injector checks its annotation against the same list.
export { PROXY_LOG_LEVELS } from "../../control/injector/index.js";

/** CPU and memory as Kubernetes quantities; an absent field is not set. */
export type { Resources };

/** The control-plane services, each a Deployment, a Service and (with --ha) a PodDisruptionBudget. */
export type Component = "identity" | "destination" | "injector";
/** The services proxies talk to (gRPC); the injector's only client is the API server. */
export type ProxyFacingComponent = Exclude<Component, "injector">;

export const IDENTITY_GRPC_PORT = 8080;
export const IDENTITY_ADMIN_PORT = 9990;
export const DESTINATION_GRPC_PORT = 8086;
export const DESTINATION_ADMIN_PORT = 9996;
/** The injector's HTTPS port in its pod, and its Service's port (where the API server calls it). */
export const INJECTOR_WEBHOOK_PORT = 8443;
export const INJECTOR_SERVICE_PORT = 443;
export const INJECTOR_ADMIN_PORT = 9995;

/** The flags of `meshctl install`, as commander parses them. */
export interface InstallFlags {
  crds: boolean;
  ha: boolean;
  namespace: string;
  clusterDomain: string;
  trustDomain?: string;
  registry: string;
  imageTag: string;
  proxyLogLevel: string;
  proxyCpuRequest?: string;
  proxyCpuLimit?: string;
  proxyMemoryRequest?: string;
  proxyMemoryLimit?: string;
  identityIssuanceLifetime: string;
  identityTrustAnchorsFile?: string;
  identityIssuerCertificateFile?: string;
  identityIssuerKeyFile?: string;
  identityExternalIssuer: boolean;
  /** Where the external issuer's Secret is read from (kubectl's flags). */
  kubeconfig?: string;
  context?: string;
  injectorCaFile?: string;
  injectorCertificateFile?: string;
  injectorKeyFile?: string;
  output: "yaml" | "json";
}

/** Everything the manifests are rendered from. */
export interface InstallValues {
  /** The Trellis version: a label on every object, the default image tag. */
  version: string;
  namespace: string;
  clusterDomain: string;
  trustDomain: string;
  /** `<registry>/trellis:<tag>`: the controllers' image, and the proxies' once injected. */
  image: string;
  highAvailability: boolean;
  /** Pods per control-plane Deployment: 3 with --ha, else 1. */
  replicas: number;
  /** Requests (and, with --ha, limits) of each controller. */
  controllerResources: Record<Component, Resources>;
  /** What injected proxies get; recorded in the config ConfigMap for the injector. */
  proxy: { logLevel: string; resources: Resources };
  identity: {
    /** The leaves' lifetime, as given (a Go duration). */
    issuanceLifetime: string;
    /** The issuer Secret is made by someone else (cert-manager): not rendered. */
    externalIssuer: boolean;
  };
}

export const DEFAULT_NAMESPACE = "trellis";
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
export const DEFAULT_ISSUANCE_LIFETIME = "24h";

/** Proxy resources by default; --ha adds limits so a runaway proxy cannot starve its node. */
export const PROXY_RESOURCES: Resources = { cpuRequest: "100m", memoryRequest: "64Mi" };
export const PROXY_HA_LIMITS: Resources = { cpuLimit: "1", memoryLimit: "256Mi" };

const CONTROLLER_RESOURCES: Record<Component, Resources> = {
  identity: { cpuRequest: "100m", memoryRequest: "64Mi" },
  // The destination service holds every Service, EndpointSlice and Pod of the cluster in its informers.
  destination: { cpuRequest: "100m", memoryRequest: "128Mi" },
  // The injector holds the Namespaces and the control plane's ConfigMaps only.
  injector: { cpuRequest: "100m", memoryRequest: "64Mi" },
};
const CONTROLLER_HA_LIMITS: Record<Component, Resources> = {
  identity: { cpuLimit: "1", memoryLimit: "256Mi" },
  destination: { cpuLimit: "1", memoryLimit: "512Mi" },
  injector: { cpuLimit: "1", memoryLimit: "256Mi" },
};

/** The DNS name and port of a control-plane Service, as pods reach it. */
export function serviceAddress(values: InstallValues, component: ProxyFacingComponent): string {
  const port = component === "identity" ? IDENTITY_GRPC_PORT : DESTINATION_GRPC_PORT;
  return `trellis-${component}.${values.namespace}.svc.${values.clusterDomain}:${port}`;
}

/** The SPIFFE ID a control-plane service serves with. */
export function serviceIdentity(values: InstallValues, component: ProxyFacingComponent): string {
  return formatSpiffeId({
    trustDomain: values.trustDomain,
    namespace: values.namespace,
    serviceAccount: `trellis-${component}`,
  });
}

/** Resolves the flags into values; throws UsageError naming the flag when two flags disagree. */
export function resolveValues(flags: InstallFlags): InstallValues {
  const ha = flags.ha;
  const proxyResources: Resources = {
    ...PROXY_RESOURCES,
    ...(ha ? PROXY_HA_LIMITS : {}),
    ...defined({
      cpuRequest: flags.proxyCpuRequest,
      cpuLimit: flags.proxyCpuLimit,
      memoryRequest: flags.proxyMemoryRequest,
      memoryLimit: flags.proxyMemoryLimit,
    }),
  };
  for (const [kind, request, limit] of [
    ["cpu", proxyResources.cpuRequest, proxyResources.cpuLimit],
    ["memory", proxyResources.memoryRequest, proxyResources.memoryLimit],
  ] as const) {
    if (request !== undefined && limit !== undefined && quantityValue(request) > quantityValue(limit))
      throw new UsageError(
        `--proxy-${kind}-request ${request} is above the proxy's ${kind} limit ${limit}; lower the request or raise --proxy-${kind}-limit`,
      );
  }
  const withLimits = (c: Component): Resources => ({
    ...CONTROLLER_RESOURCES[c],
    ...(ha ? CONTROLLER_HA_LIMITS[c] : {}),
  });
  return {
    version: VERSION,
    namespace: flags.namespace,
    clusterDomain: flags.clusterDomain,
    trustDomain: flags.trustDomain ?? flags.clusterDomain,
    image: imageRef(flags.registry, flags.imageTag),
    highAvailability: ha,
    replicas: ha ? 3 : 1,
    controllerResources: {
      identity: withLimits("identity"),
      destination: withLimits("destination"),
      injector: withLimits("injector"),
    },
    proxy: { logLevel: flags.proxyLogLevel, resources: proxyResources },
    identity: {
      issuanceLifetime: flags.identityIssuanceLifetime,
      externalIssuer: flags.identityExternalIssuer,
    },
  };
}

/** The defaults of every flag that has one, as commander starts from. */
export const FLAG_DEFAULTS = {
  namespace: DEFAULT_NAMESPACE,
  clusterDomain: DEFAULT_CLUSTER_DOMAIN,
  registry: IMAGE_REGISTRY,
  imageTag: VERSION,
  proxyLogLevel: "info",
  identityIssuanceLifetime: DEFAULT_ISSUANCE_LIFETIME,
} as const;

function defined(r: Resources): Resources {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
}

// ── Flag parsers: each throws commander's InvalidArgumentError, a usage error naming the flag. ─────

/** The control plane's namespace: a DNS-1123 label, as every controller's own-identity flags take it. */
export const namespaceArg = dnsLabel;

/** A cluster or trust domain: a DNS name. */
export const domainArg = trustDomain;

export function registryArg(value: string): string {
  const trimmed = value.replace(/\/+$/, "");
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(trimmed))
    throw new InvalidArgumentError("expected a registry and path such as ghcr.io/trellis-mesh");
  return trimmed;
}

export function imageTagArg(value: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value))
    throw new InvalidArgumentError("expected an image tag such as 0.1.0 (letters, digits, '_', '.', '-')");
  return value;
}

/** A duration above 0, kept as written: it is passed on to the identity controller's own flag. */
export function durationArg(value: string): string {
  positiveDuration(value);
  return value;
}

// A Kubernetes quantity: a decimal number with an optional binary, decimal or exponent suffix.
const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?\d+)?$/;
const SUFFIX: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a quantity (`100m` → 0.1, `64Mi` → 67108864); NaN when it is not one. */
export function quantityValue(text: string): number {
  const m = QUANTITY.exec(text);
  if (!m) return Number.NaN;
  const suffix = m[2] ?? "";
  const scale = SUFFIX[suffix] ?? 10 ** Number(suffix.slice(1));
  return Number(m[1]) * scale;
}

export function cpuArg(value: string): string {
  if (!(quantityValue(value) > 0))
    throw new InvalidArgumentError("expected a CPU quantity such as 100m or 1");
  return value;
}

export function memoryArg(value: string): string {
  if (!(quantityValue(value) > 0))
    throw new InvalidArgumentError("expected a memory quantity such as 64Mi or 1Gi");
  return value;
}
