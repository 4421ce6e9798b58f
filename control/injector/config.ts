/**
 * What injection is computed from: the installed mesh's settings (as `meshctl install` records them in
 * the `trellis-config` ConfigMap, plus the trust anchors), and each workload's `trellis.dev/`
 * annotations, parsed and checked into per-workload overrides.
 */

import { isTrustDomain } from "../../lib/spiffe.js";
import { ANNOTATION_PREFIX, ANNOTATIONS } from "../common/annotations.js";
import type { MeshConfig, Resources } from "../common/mesh-config.js";

export { ANNOTATION_PREFIX, ANNOTATIONS };

const KNOWN = new Set<string>(Object.values(ANNOTATIONS));

export const PROXY_LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

/** CPU and memory of the proxy as Kubernetes quantities; an absent field is not set. */
export type ProxyResources = Resources;

/**
 * The installed mesh, as the injector needs it. Built once (from the ConfigMaps, or from install's
 * defaults offline) and never changed by injection.
 */
export interface InjectorConfig {
  /** The Trellis version: recorded on injected pods as `trellis.dev/proxy-version`. */
  version: string;
  /** The control plane's namespace: never injected (nor kube-system) without force. */
  namespace: string;
  trustDomain: string;
  proxyImage: string;
  proxyUid: number;
  proxyLogLevel: string;
  proxyResources: ProxyResources;
  /** PEM of the trust anchors, written into every proxy's environment. */
  trustAnchorsPem: string;
  identityServiceAddr: string;
  identityServiceName: string;
  destinationServiceAddr: string;
  destinationServiceName: string;
}

/** The keys of the `trellis-config` ConfigMap (control/common/mesh-config.ts) the injector reads. */
export type InstalledConfig = Pick<
  MeshConfig,
  | "version"
  | "namespace"
  | "trustDomain"
  | "proxyImage"
  | "proxyUid"
  | "proxyLogLevel"
  | "proxyCpuRequest"
  | "proxyCpuLimit"
  | "proxyMemoryRequest"
  | "proxyMemoryLimit"
  | "identityServiceAddr"
  | "identityServiceName"
  | "destinationServiceAddr"
  | "destinationServiceName"
>;

/** Checks a ConfigMap's data and the anchors; throws naming every missing or bad key. */
export function injectorConfig(data: Partial<InstalledConfig>, trustAnchorsPem: string): InjectorConfig {
  const problems: string[] = [];
  const need = (key: keyof InstalledConfig): string => {
    const v = data[key];
    if (typeof v !== "string" || v === "") {
      problems.push(`"${key}" is missing`);
      return "";
    }
    return v;
  };
  const uid = Number(need("proxyUid"));
  if (!Number.isInteger(uid) || uid < 1) problems.push(`"proxyUid" is not a user id`);
  const trustDomain = need("trustDomain");
  if (trustDomain && !isTrustDomain(trustDomain)) problems.push(`"trustDomain" is not a DNS name`);
  if (!trustAnchorsPem.includes("-----BEGIN CERTIFICATE-----"))
    problems.push("the trust anchors hold no PEM certificate");
  const config: InjectorConfig = {
    version: need("version"),
    namespace: need("namespace"),
    trustDomain,
    proxyImage: need("proxyImage"),
    proxyUid: uid,
    proxyLogLevel: need("proxyLogLevel"),
    proxyResources: defined({
      cpuRequest: data.proxyCpuRequest,
      cpuLimit: data.proxyCpuLimit,
      memoryRequest: data.proxyMemoryRequest,
      memoryLimit: data.proxyMemoryLimit,
    }),
    trustAnchorsPem,
    identityServiceAddr: need("identityServiceAddr"),
    identityServiceName: need("identityServiceName"),
    destinationServiceAddr: need("destinationServiceAddr"),
    destinationServiceName: need("destinationServiceName"),
  };
  if (problems.length > 0) throw new Error(`the mesh configuration is incomplete: ${problems.join("; ")}`);
  return config;
}

function defined(r: ProxyResources): ProxyResources {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined && v !== ""));
}

/** A workload's settings from its pod template's annotations. */
export interface WorkloadSettings {
  resources: ProxyResources;
  logLevel?: string;
  skipInboundPorts: string[];
  skipOutboundPorts: string[];
  opaquePorts: string[];
}

/** The settings, the problems that refuse injection, and the warnings (unknown annotations). */
export interface ParsedSettings {
  settings: WorkloadSettings;
  errors: string[];
  warnings: string[];
}

const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?\d+)?$/;

/** Reads the `trellis.dev/` annotations of a pod template; never throws. */
export function workloadSettings(annotations: Record<string, unknown>): ParsedSettings {
  const errors: string[] = [];
  const warnings: string[] = [];
  const text = (key: string): string | undefined => {
    const v = annotations[key];
    if (v === undefined || v === null) return undefined;
    return String(v).trim();
  };
  const quantity = (key: string): string | undefined => {
    const v = text(key);
    if (v === undefined) return undefined;
    if (!QUANTITY.test(v)) errors.push(`annotation ${key}: "${v}" is not a Kubernetes quantity (100m, 64Mi)`);
    return v;
  };
  const ports = (key: string): string[] => {
    const v = text(key);
    if (v === undefined || v === "") return [];
    const out: string[] = [];
    for (const item of v.split(",").map((s) => s.trim())) {
      if (item === "") continue;
      if (isPortOrRange(item)) out.push(item);
      else errors.push(`annotation ${key}: "${item}" is not a port (1-65535) or a range such as 8000-8100`);
    }
    return out;
  };
  const logLevel = text(ANNOTATIONS.PROXY_LOG_LEVEL);
  if (logLevel !== undefined && !(PROXY_LOG_LEVELS as readonly string[]).includes(logLevel))
    errors.push(
      `annotation ${ANNOTATIONS.PROXY_LOG_LEVEL}: "${logLevel}" is not one of ${PROXY_LOG_LEVELS.join(", ")}`,
    );
  for (const key of Object.keys(annotations))
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN.has(key))
      warnings.push(`unknown annotation "${key}" is ignored`);
  const settings: WorkloadSettings = {
    resources: defined({
      cpuRequest: quantity(ANNOTATIONS.PROXY_CPU_REQUEST),
      cpuLimit: quantity(ANNOTATIONS.PROXY_CPU_LIMIT),
      memoryRequest: quantity(ANNOTATIONS.PROXY_MEMORY_REQUEST),
      memoryLimit: quantity(ANNOTATIONS.PROXY_MEMORY_LIMIT),
    }),
    ...(logLevel !== undefined ? { logLevel } : {}),
    skipInboundPorts: ports(ANNOTATIONS.SKIP_INBOUND_PORTS),
    skipOutboundPorts: ports(ANNOTATIONS.SKIP_OUTBOUND_PORTS),
    opaquePorts: ports(ANNOTATIONS.OPAQUE_PORTS),
  };
  return { settings, errors, warnings };
}

function isPort(s: string): boolean {
  if (!/^\d{1,5}$/.test(s)) return false;
  const n = Number(s);
  return n >= 1 && n <= 65535;
}

/** `8080` or `8000-8100` (low ≤ high). */
export function isPortOrRange(s: string): boolean {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (m) return isPort(m[1] as string) && isPort(m[2] as string) && Number(m[1]) <= Number(m[2]);
  return isPort(s);
}
