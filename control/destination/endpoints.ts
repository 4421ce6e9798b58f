/**
 * The endpoint translator: a snapshot and a target → the endpoint view of one Service port (ready
 * endpoints only, keyed by address), and two views → the Update messages that take a client from the
 * first to the second. The first message of a stream is diffEndpoints(undefined, view): `add` when
 * there are endpoints, so `no_endpoints` can never precede the first `add` of a Service that has some.
 */

import { formatSpiffeId } from "../../lib/spiffe.js";
import type { Update, WeightedAddr } from "../api/gen/trellis/destination/v1/destination.js";
import { ProtocolHint } from "../api/gen/trellis/destination/v1/destination.js";
import {
  type ClusterState,
  defaultProtocol,
  type Endpoint,
  type Service,
  type ServicePort,
} from "./model.js";
import { resolveTarget, type Target } from "./names.js";

export interface EndpointView {
  /** Whether the Service exists (no_endpoints.exists). */
  exists: boolean;
  /** Ready endpoints by `ip:port`, each with its JSON form for cheap comparison. */
  addrs: Map<string, { addr: WeightedAddr; json: string }>;
  /** Labels of the whole set: namespace, service. */
  labels: Record<string, string>;
}

/** The port a Service port maps to; a port the Service does not list maps to itself. */
export function servicePort(service: Service | undefined, port: number): ServicePort {
  return (
    service?.ports.find((p) => p.port === port) ?? {
      name: String(port),
      port,
      targetPort: port,
      protocol: defaultProtocol(port),
    }
  );
}

/** The protocol of an endpoint's own port: the Service port that targets it, else the default. */
export function servicePortByTarget(service: Service, targetPort: number): ServicePort["protocol"] {
  return service.ports.find((p) => p.targetPort === targetPort)?.protocol ?? defaultProtocol(targetPort);
}

export function endpointView(target: Target, state: ClusterState, trustDomain: string): EndpointView {
  const resolved = resolveTarget(target, state);
  const view: EndpointView = {
    exists: Boolean(resolved?.service),
    addrs: new Map(),
    labels: resolved ? { namespace: resolved.namespace, service: resolved.name } : {},
  };
  const service = resolved?.service;
  if (!service) return view;
  // An endpoint's own IP: that endpoint alone, on the very port asked for.
  const sp = resolved.endpointIP
    ? {
        name: String(target.port),
        port: target.port,
        targetPort: target.port,
        protocol: servicePortByTarget(service, target.port),
      }
    : servicePort(service, target.port);
  for (const e of service.endpoints) {
    if (!e.ready || (resolved.endpointIP && e.ip !== resolved.endpointIP)) continue;
    const addr = weightedAddr(service, sp, e, trustDomain);
    view.addrs.set(`${e.ip}:${sp.targetPort}`, { addr, json: JSON.stringify(addr) });
  }
  return view;
}

function weightedAddr(service: Service, sp: ServicePort, e: Endpoint, trustDomain: string): WeightedAddr {
  const metricLabels: Record<string, string> = {
    ...e.labels,
    namespace: service.namespace,
    pod: e.pod,
    serviceaccount: e.serviceAccount,
  };
  if (e.owner) metricLabels[e.owner.kind] = e.owner.name;
  return {
    addr: { ip: e.ip, port: sp.targetPort },
    weight: e.weight,
    metricLabels,
    identity: e.meshed
      ? formatSpiffeId({ trustDomain, namespace: service.namespace, serviceAccount: e.serviceAccount })
      : "",
    protocolHint:
      sp.protocol === "opaque"
        ? ProtocolHint.PROTOCOL_HINT_OPAQUE
        : e.meshed
          ? ProtocolHint.PROTOCOL_HINT_H2
          : ProtocolHint.PROTOCOL_HINT_UNKNOWN,
    proxyInboundPort: e.meshed ? e.inboundPort : 0,
  };
}

/**
 * The updates from one view to the next (from nothing when prev is undefined). Additions come before
 * removals so a client replacing endpoints never sees an empty set in between; an empty set is said
 * with no_endpoints.
 */
export function diffEndpoints(prev: EndpointView | undefined, next: EndpointView): Update[] {
  if (next.addrs.size === 0) {
    const wasEmpty = prev !== undefined && prev.addrs.size === 0;
    if (wasEmpty && prev.exists === next.exists) return [];
    return [{ update: { $case: "noEndpoints", value: { exists: next.exists } } }];
  }
  const added: WeightedAddr[] = [];
  for (const [k, v] of next.addrs) if (prev?.addrs.get(k)?.json !== v.json) added.push(v.addr);
  const removed = prev
    ? [...prev.addrs].filter(([k]) => !next.addrs.has(k)).map(([, v]) => v.addr.addr!)
    : [];
  const updates: Update[] = [];
  if (added.length > 0)
    updates.push({ update: { $case: "add", value: { addrs: added, metricLabels: next.labels } } });
  if (removed.length > 0) updates.push({ update: { $case: "remove", value: { addrs: removed } } });
  return updates;
}
