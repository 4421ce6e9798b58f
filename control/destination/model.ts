/**
 * What the destination service knows about the cluster, whatever the source: Services with their
 * endpoints, ServiceProfiles and TrafficSplits, as one immutable snapshot. A source replaces the
 * snapshot on every change; watchers compare the part they serve between two snapshots.
 */

import { DEFAULT_OPAQUE_PORTS } from "../../lib/proxy-env.js";

/** An endpoint's weight when its source does not give one. */
export const DEFAULT_ENDPOINT_WEIGHT = 10_000;
/** Where an endpoint's proxy listens for inbound traffic when its source does not say. */
export const DEFAULT_PROXY_INBOUND_PORT = 4143;
/** TrafficSplit weights are scaled so that a weight of 1 is 10000, as Linkerd's decimillis. */
export const SPLIT_WEIGHT_UNIT = 10_000;

/** A port of a Service. */
export interface ServicePort {
  name: string;
  /** The port clients use (the `:port` of the authority). */
  port: number;
  /** The port endpoints listen on. */
  targetPort: number;
  /** `opaque`: treat as TCP (protocol hint, opaque_protocol); undeclared ports: defaultProtocol. */
  protocol: "http" | "opaque";
}

/**
 * The protocol of a port nothing declares (no `trellis.dev/opaque-ports` on the Service, no
 * `protocol` in a local Service): opaque on Linkerd's default opaque ports, where the server often
 * speaks first, else HTTP (detected by the proxy).
 */
export function defaultProtocol(port: number): ServicePort["protocol"] {
  return DEFAULT_OPAQUE_PORTS.includes(port) ? "opaque" : "http";
}

/** One endpoint (a pod) behind a Service. */
export interface Endpoint {
  ip: string;
  /** Only ready endpoints are announced; terminating ones are not ready. */
  ready: boolean;
  /** Whether the pod runs a Trellis proxy; only then does it get an identity and the H2 hint. */
  meshed: boolean;
  serviceAccount: string;
  /** Pod name, for metrics. */
  pod: string;
  /** Owner, e.g. `{kind: "deployment", name: "web"}`, for metrics. */
  owner?: { kind: string; name: string };
  /** Relative weight, default 10000. */
  weight: number;
  /** The proxy's inbound port, default 4143. */
  inboundPort: number;
  /** Extra metric labels. */
  labels: Readonly<Record<string, string>>;
}

export interface Service {
  namespace: string;
  name: string;
  clusterIP?: string;
  ports: readonly ServicePort[];
  endpoints: readonly Endpoint[];
}

export type RequestMatchSpec =
  | { all: RequestMatchSpec[] }
  | { any: RequestMatchSpec[] }
  | { not: RequestMatchSpec }
  | { pathRegex: string }
  | { method: string };

export type ResponseMatchSpec =
  | { all: ResponseMatchSpec[] }
  | { any: ResponseMatchSpec[] }
  | { not: ResponseMatchSpec }
  | { status: { min: number; max: number } };

export interface RouteSpec {
  name: string;
  condition: RequestMatchSpec;
  responseClasses: { condition: ResponseMatchSpec; isFailure: boolean }[];
  isRetryable: boolean;
  timeoutMs?: number;
}

/** A validated ServiceProfile (trellis.dev/v1alpha1). */
export interface ServiceProfile {
  namespace: string;
  /** The target Service's fully qualified name, `svc.ns.svc.<cluster-domain>`. */
  name: string;
  routes: RouteSpec[];
  retryBudget?: { retryRatio: number; minRetriesPerSecond: number; ttlMs: number };
  /** Ports whose traffic is opaque TCP. */
  opaquePorts: number[];
}

/** A validated TrafficSplit; weights in the proto's unit (10000 = 1). */
export interface TrafficSplit {
  namespace: string;
  name: string;
  /** The apex Service's name, in the split's namespace. */
  service: string;
  backends: { service: string; weight: number }[];
}

/** One immutable view of the cluster. Keys are `namespace/name`. */
export interface ClusterState {
  readonly services: ReadonlyMap<string, Service>;
  readonly profiles: ReadonlyMap<string, ServiceProfile>;
  readonly splits: ReadonlyMap<string, TrafficSplit>;
  /** Services by ClusterIP. */
  readonly clusterIPs: ReadonlyMap<string, Service>;
  /** The Service of each endpoint IP (the first Service listing it). */
  readonly endpointIPs: ReadonlyMap<string, Service>;
}

export function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export const EMPTY_STATE: ClusterState = {
  services: new Map(),
  profiles: new Map(),
  splits: new Map(),
  clusterIPs: new Map(),
  endpointIPs: new Map(),
};

/** Builds a snapshot, indexing Services by ClusterIP. */
export function clusterState(
  services: Iterable<Service>,
  profiles: Iterable<ServiceProfile>,
  splits: Iterable<TrafficSplit>,
): ClusterState {
  const byKey = new Map<string, Service>();
  const clusterIPs = new Map<string, Service>();
  const endpointIPs = new Map<string, Service>();
  for (const s of services) {
    byKey.set(key(s.namespace, s.name), s);
    if (s.clusterIP) clusterIPs.set(s.clusterIP, s);
    for (const e of s.endpoints) if (!endpointIPs.has(e.ip)) endpointIPs.set(e.ip, s);
  }
  return {
    services: byKey,
    profiles: new Map([...profiles].map((p) => [key(p.namespace, p.name), p])),
    splits: new Map([...splits].map((s) => [key(s.namespace, s.name), s])),
    clusterIPs,
    endpointIPs,
  };
}
