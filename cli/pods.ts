/**
 * Meshed pods as meshctl finds them through the API: a pod is meshed when it runs the
 * `trellis-proxy` container, as a regular container (the legacy sidecar) or as an init container
 * with `restartPolicy: Always` (the native sidecar). Its admin port is the one the container's
 * environment gives the proxy, 4191 by default; its workload is the Deployment, StatefulSet or
 * DaemonSet that owns it, as the `deployment`, `statefulset` and `daemonset` metric labels name it.
 */
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { PROXY_CONTAINER, PROXY_ENV, PROXY_PORTS } from "../lib/proxy-env.js";

/** The pod's proxy container, wherever injection put it. */
export function proxyContainerOf(pod: V1Pod): V1Container | undefined {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
    (c) => c.name === PROXY_CONTAINER,
  );
}

export function isMeshed(pod: V1Pod): boolean {
  return proxyContainerOf(pod) !== undefined;
}

/** The port the pod's proxy serves /metrics and /ready on. */
export function proxyAdminPort(pod: V1Pod): number {
  const listen = proxyContainerOf(pod)?.env?.find((e) => e.name === PROXY_ENV.ADMIN_LISTEN_ADDR)?.value;
  const port = Number(listen?.slice(listen.lastIndexOf(":") + 1));
  return Number.isInteger(port) && port > 0 ? port : PROXY_PORTS.ADMIN;
}

/** The workload labels of a pod: `{ deployment: "web" }` for a pod of web's ReplicaSet `web-5d8f9c7b4`. */
export function workloadLabels(pod: V1Pod): Record<string, string> {
  const owner =
    pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!owner) return {};
  if (owner.kind === "ReplicaSet") {
    // A Deployment names its ReplicaSets <deployment>-<pod-template-hash>.
    const hash = pod.metadata?.labels?.["pod-template-hash"];
    if (hash && owner.name.endsWith(`-${hash}`)) return { deployment: owner.name.slice(0, -hash.length - 1) };
    return {};
  }
  if (owner.kind === "StatefulSet") return { statefulset: owner.name };
  if (owner.kind === "DaemonSet") return { daemonset: owner.name };
  return {};
}

/** `ns/name`, as messages name pods. */
export function podRef(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

/** The API server's pod proxy path to one of the pod's ports. */
export function podProxyPath(pod: V1Pod, port: number, path: string): string {
  return `/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}:${port}/proxy${path}`;
}
