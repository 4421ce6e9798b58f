/**
 * Prometheus's Kubernetes service discovery, role `pod`, as target groups: what
 * test/cluster/images/prometheus.ts writes into file_sd files for this machine's Prometheus, which is
 * built without it. The same groups and `__meta_kubernetes_*` labels as Prometheus makes: one target
 * per container port (init containers too, marked), or one at the pod's address for a container that
 * declares none; pods without an address are left out.
 */
import type { V1Container, V1Pod } from "@kubernetes/client-node";

type LabelSet = Record<string, string>;
/** A file_sd target group. */
export interface TargetGroup {
  targets: string[];
  labels: LabelSet;
}

const META = "__meta_kubernetes_";
/** A Kubernetes label or annotation name as a Prometheus label name. */
export const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_");

/** The target groups Prometheus's kubernetes_sd pod role makes of one pod: one per container port. */
export function podTargets(pod: V1Pod): TargetGroup[] {
  const ip = pod.status?.podIP;
  if (!ip) return [];
  const meta = pod.metadata ?? {};
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown";
  const controller = meta.ownerReferences?.find((o) => o.controller);
  const group: LabelSet = {
    [`${META}namespace`]: meta.namespace ?? "",
    [`${META}pod_name`]: meta.name ?? "",
    [`${META}pod_ip`]: ip,
    [`${META}pod_ready`]: ready.toLowerCase(),
    [`${META}pod_phase`]: pod.status?.phase ?? "",
    [`${META}pod_node_name`]: pod.spec?.nodeName ?? "",
    [`${META}pod_host_ip`]: pod.status?.hostIP ?? "",
    [`${META}pod_uid`]: meta.uid ?? "",
    ...(controller
      ? { [`${META}pod_controller_kind`]: controller.kind, [`${META}pod_controller_name`]: controller.name }
      : {}),
  };
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    group[`${META}pod_label_${sanitize(k)}`] = v;
    group[`${META}pod_labelpresent_${sanitize(k)}`] = "true";
  }
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    group[`${META}pod_annotation_${sanitize(k)}`] = v;
    group[`${META}pod_annotationpresent_${sanitize(k)}`] = "true";
  }
  const containers: [V1Container, boolean][] = [
    ...(pod.spec?.containers ?? []).map((c) => [c, false] as [V1Container, boolean]),
    ...(pod.spec?.initContainers ?? []).map((c) => [c, true] as [V1Container, boolean]),
  ];
  return containers.flatMap(([c, init]) => {
    const container: LabelSet = {
      ...group,
      [`${META}pod_container_name`]: c.name,
      [`${META}pod_container_image`]: c.image ?? "",
      [`${META}pod_container_init`]: String(init),
    };
    // A container without ports is one target at the pod's address, for relabeling to add a port.
    if (!c.ports || c.ports.length === 0) return [{ targets: [ip], labels: container }];
    return c.ports.map((p) => ({
      targets: [`${ip}:${p.containerPort}`],
      labels: {
        ...container,
        [`${META}pod_container_port_name`]: p.name ?? "",
        [`${META}pod_container_port_number`]: String(p.containerPort),
        [`${META}pod_container_port_protocol`]: p.protocol ?? "TCP",
      },
    }));
  });
}
