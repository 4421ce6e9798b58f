/**
 * Kubernetes objects → the destination model, as a pure function: Services, EndpointSlices and Pods
 * make Services with endpoints; ServiceProfile and TrafficSplit objects go through the same validation
 * as the local files. Re-lists repeat events, so the source rebuilds from its caches and this function
 * only ever sees whole sets: idempotent by construction.
 *
 * - An endpoint is announced when its slice says ready (unset counts as ready, as in Kubernetes) and
 *   not terminating.
 * - Its Pod (the slice's targetRef) gives the service account, whether it is meshed (it runs a
 *   `trellis-proxy` container) and its owner: a ReplicaSet is reported as its Deployment (the name
 *   without the pod-template-hash), other owners by their kind.
 * - A named targetPort is resolved through the slice's port of the same name.
 * - `trellis.dev/opaque-ports: "5432,6379,8000-8100"` on a Service marks those Service ports opaque and
 *   no others; a Service without it has Linkerd's default opaque ports (defaultProtocol). A malformed
 *   list counts as absent.
 * - TrafficSplit weights are read as quantities whatever the served version: an integer is a quantity
 *   too, and a v1alpha1 object read through v1alpha2 keeps its `900m`.
 */

import type { V1EndpointSlice, V1Pod, V1Service } from "@kubernetes/client-node";
import { parsePortList } from "../../lib/ports.js";
import { PROXY_CONTAINER } from "../../lib/proxy-env.js";
import { ANNOTATIONS } from "../common/annotations.js";
import {
  type ClusterState,
  clusterState,
  DEFAULT_ENDPOINT_WEIGHT,
  DEFAULT_PROXY_INBOUND_PORT,
  defaultProtocol,
  type Endpoint,
  key,
  type Service,
  type ServicePort,
  type ServiceProfile,
  type TrafficSplit,
} from "./model.js";
import { type Problem, parseResource } from "./resources.js";

export interface KubernetesObjects {
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  pods: readonly V1Pod[];
  serviceProfiles: readonly unknown[];
  trafficSplits: readonly unknown[];
}

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export function translate(
  objects: KubernetesObjects,
  clusterDomain: string,
): { state: ClusterState; problems: Problem[] } {
  const pods = new Map<string, V1Pod>();
  for (const pod of objects.pods)
    if (pod.metadata?.name) pods.set(key(pod.metadata.namespace ?? "default", pod.metadata.name), pod);
  const slicesByService = new Map<string, V1EndpointSlice[]>();
  for (const slice of objects.endpointSlices) {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = key(slice.metadata?.namespace ?? "default", svc);
    slicesByService.set(k, [...(slicesByService.get(k) ?? []), slice]);
  }
  const services: Service[] = [];
  for (const svc of objects.services) {
    const name = svc.metadata?.name;
    if (!name) continue;
    const namespace = svc.metadata?.namespace ?? "default";
    services.push(service(svc, namespace, name, slicesByService.get(key(namespace, name)) ?? [], pods));
  }
  const problems: Problem[] = [];
  const profiles: ServiceProfile[] = [];
  const splits: TrafficSplit[] = [];
  for (const obj of objects.serviceProfiles) {
    const r = parseResource(obj, where(obj, "ServiceProfile"), clusterDomain);
    if ("problem" in r) problems.push(r.problem);
    else if (r.resource.kind === "ServiceProfile") profiles.push(r.resource.value);
  }
  for (const obj of objects.trafficSplits) {
    const asQuantities =
      typeof obj === "object" && obj !== null ? { ...obj, apiVersion: "split.smi-spec.io/v1alpha1" } : obj;
    const r = parseResource(asQuantities, where(obj, "TrafficSplit"), clusterDomain);
    if ("problem" in r) problems.push(r.problem);
    else if (r.resource.kind === "TrafficSplit") splits.push(r.resource.value);
  }
  return { state: clusterState(services, profiles, splits), problems };
}

function where(obj: unknown, kind: string): string {
  const meta = (obj as { metadata?: { name?: string; namespace?: string } } | null)?.metadata;
  return `${kind} ${meta?.namespace ?? "default"}/${meta?.name ?? "?"} (Kubernetes API)`;
}

function service(
  svc: V1Service,
  namespace: string,
  name: string,
  slices: V1EndpointSlice[],
  pods: Map<string, V1Pod>,
): Service {
  const annotation = svc.metadata?.annotations?.[ANNOTATIONS.OPAQUE_PORTS];
  const declared = annotation === undefined ? undefined : parsePortList(annotation);
  const protocolOf = (port: number): ServicePort["protocol"] =>
    declared && "ports" in declared ? (declared.ports.has(port) ? "opaque" : "http") : defaultProtocol(port);
  const ports: ServicePort[] = (svc.spec?.ports ?? []).map((p) => {
    const portName = p.name ?? String(p.port);
    let targetPort = p.port;
    if (typeof p.targetPort === "number") targetPort = p.targetPort;
    else if (typeof p.targetPort === "string" && /^\d+$/.test(p.targetPort))
      targetPort = Number(p.targetPort);
    else {
      // A named target port: the slices carry its number under the Service port's name.
      const found = slices.flatMap((s) => s.ports ?? []).find((sp) => (sp.name ?? "") === (p.name ?? ""));
      if (found?.port) targetPort = found.port;
    }
    return { name: portName, port: p.port, targetPort, protocol: protocolOf(p.port) };
  });
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    for (const e of slice.endpoints ?? []) {
      const ready = e.conditions?.ready !== false && e.conditions?.terminating !== true;
      const ref = e.targetRef?.kind === "Pod" ? e.targetRef : undefined;
      const pod = ref?.name ? pods.get(key(ref.namespace ?? namespace, ref.name)) : undefined;
      for (const ip of e.addresses) {
        if (seen.has(ip)) continue;
        seen.add(ip);
        endpoints.push({
          ip,
          ready,
          // The injector runs the proxy as a native sidecar (an init container) unless told otherwise.
          meshed: [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])].some(
            (c) => c.name === PROXY_CONTAINER,
          ),
          serviceAccount: pod?.spec?.serviceAccountName || "default",
          pod: ref?.name ?? ip,
          ...ownerOf(pod),
          weight: DEFAULT_ENDPOINT_WEIGHT,
          inboundPort: DEFAULT_PROXY_INBOUND_PORT,
          labels: e.zone ? { zone: e.zone } : {},
        });
      }
    }
  }
  const clusterIP = svc.spec?.clusterIP;
  return { namespace, name, ...(clusterIP && clusterIP !== "None" && { clusterIP }), ports, endpoints };
}

function ownerOf(pod: V1Pod | undefined): { owner?: Endpoint["owner"] } {
  const ref =
    pod?.metadata?.ownerReferences?.find((r) => r.controller) ?? pod?.metadata?.ownerReferences?.[0];
  if (!ref) return {};
  const hash = pod?.metadata?.labels?.["pod-template-hash"];
  if (ref.kind === "ReplicaSet" && hash && ref.name.endsWith(`-${hash}`))
    return { owner: { kind: "deployment", name: ref.name.slice(0, -hash.length - 1) } };
  return { owner: { kind: ref.kind.toLowerCase(), name: ref.name } };
}
