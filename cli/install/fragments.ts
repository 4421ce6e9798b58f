/**
 * Pieces every control-plane workload shares, written once: labels, the security contexts (non-root,
 * read-only root filesystem, no privilege escalation, every capability dropped), resources, the
 * admin-port probes and the --ha anti-affinity.
 */

import type { V1Affinity, V1PodSecurityContext, V1Probe, V1SecurityContext } from "@kubernetes/client-node";
import { ANNOTATIONS } from "../../control/common/annotations.js";
import { resourceRequirements } from "../../control/common/mesh-config.js";
import type { Component, InstallValues } from "./values.js";

export const LABEL_CONTROL_PLANE_NS = "trellis.dev/control-plane-ns";
export const LABEL_COMPONENT = "trellis.dev/control-plane-component";
export const LABEL_VERSION = "trellis.dev/version";
export const ANNOTATION_INJECT = ANNOTATIONS.INJECT;

/** What selects a component's pods: stable across versions, as a Deployment's selector must be. */
export function selectorLabels(values: InstallValues, component: Component): Record<string, string> {
  return { [LABEL_COMPONENT]: component, [LABEL_CONTROL_PLANE_NS]: values.namespace };
}

/** The labels every object carries: its namespace of the control plane and the version. */
export function commonLabels(values: InstallValues): Record<string, string> {
  return { [LABEL_CONTROL_PLANE_NS]: values.namespace, [LABEL_VERSION]: values.version };
}

/** A container that can do nothing but run its process as `uid`. */
export function containerSecurityContext(uid: number): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** fsGroup makes mounted Secrets and projected tokens readable by the non-root user. */
export function podSecurityContext(uid: number): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export { resourceRequirements };

/**
 * The admin server's /ready and /live. A controller's admin port opens once it serves, which for the
 * destination service waits for its certificate and its informers: the startup probe gives that up to
 * five minutes before liveness counts.
 */
export function adminProbes(port: string): {
  readinessProbe: V1Probe;
  livenessProbe: V1Probe;
  startupProbe: V1Probe;
} {
  return {
    readinessProbe: { httpGet: { path: "/ready", port }, periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: "/live", port }, periodSeconds: 10, failureThreshold: 3 },
    startupProbe: { httpGet: { path: "/live", port }, periodSeconds: 2, failureThreshold: 150 },
  };
}

/** --ha: never two replicas on one node, and spread over zones where the cluster has them. */
export function antiAffinity(labels: Record<string, string>): V1Affinity {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
      ],
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            labelSelector: { matchLabels: labels },
            topologyKey: "topology.kubernetes.io/zone",
          },
        },
      ],
    },
  };
}
