/**
 * The scrape configuration of the Prometheus `meshctl viz install` deploys, as Linkerd's viz
 * Prometheus writes its own: pods found through the API (kubernetes_sd, role pod), kept when they
 * run the `trellis-proxy` container (a sidecar or a native-sidecar init container) and scraped on its
 * admin port, with the labels viz's PromQL groups by (`namespace`, `pod`, and `deployment`,
 * `statefulset` or `daemonset` from the pod's owner). The proxy writes `namespace`, `pod` and
 * `deployment` itself when injection gave it them, and its own labels win (`honor_labels`), as they
 * do in meshctl's direct scrape. The control plane's admin ports are a second job, Prometheus itself
 * a third. Plain data: the YAML is rendered with the rest of the install and pinned by golden files.
 */
import { stringify } from "yaml";
import { PROXY_CONTAINER, PROXY_PORTS } from "../../lib/proxy-env.js";
import { LABEL_COMPONENT } from "../install/index.js";

/** The job of every proxy's series; `viz check` asks `up{job="trellis-proxy"}`. */
export const PROXY_JOB = "trellis-proxy";
/** The job of the control plane's admin endpoints. */
export const CONTROLLER_JOB = "trellis-controller";
/** The control plane's containers name their admin port so (cli/install/controllers.ts). */
const CONTROLLER_ADMIN_PORT_NAME = "admin-http";

/** `trellis.dev/control-plane-component` as kubernetes_sd spells a pod label: non-alphanumerics become `_`. */
export function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

interface Relabel {
  source_labels?: string[];
  action?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
}

/** The namespace and pod of every target, as viz groups by them. */
const podIdentity: Relabel[] = [
  { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
  { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
];

/**
 * The workload from the pod's controller: a Deployment's pods belong to its ReplicaSet
 * `<deployment>-<pod-template-hash>`; StatefulSets and DaemonSets own their pods directly.
 */
const workload: Relabel[] = [
  {
    source_labels: [
      "__meta_kubernetes_pod_controller_kind",
      "__meta_kubernetes_pod_controller_name",
      podLabelMeta("pod-template-hash"),
    ],
    regex: "ReplicaSet;(.+)-[a-z0-9]+;[a-z0-9]+",
    target_label: "deployment",
  },
  {
    source_labels: ["__meta_kubernetes_pod_controller_kind", "__meta_kubernetes_pod_controller_name"],
    regex: "StatefulSet;(.+)",
    target_label: "statefulset",
  },
  {
    source_labels: ["__meta_kubernetes_pod_controller_kind", "__meta_kubernetes_pod_controller_name"],
    regex: "DaemonSet;(.+)",
    target_label: "daemonset",
  },
];

export interface ScrapeSettings {
  /** How often every target is scraped, as Prometheus writes durations (`10s`). */
  scrapeInterval: string;
}

/** The configuration as an object. */
export function scrapeConfig(settings: ScrapeSettings): Record<string, unknown> {
  const admin = String(PROXY_PORTS.ADMIN);
  return {
    global: { scrape_interval: settings.scrapeInterval, evaluation_interval: settings.scrapeInterval },
    scrape_configs: [
      { job_name: "prometheus", static_configs: [{ targets: ["localhost:9090"] }] },
      {
        job_name: CONTROLLER_JOB,
        kubernetes_sd_configs: [{ role: "pod" }],
        relabel_configs: [
          {
            source_labels: [podLabelMeta(LABEL_COMPONENT), "__meta_kubernetes_pod_container_port_name"],
            action: "keep",
            regex: `(.+);${CONTROLLER_ADMIN_PORT_NAME}`,
          },
          { source_labels: [podLabelMeta(LABEL_COMPONENT)], target_label: "component" },
          ...podIdentity,
        ],
      },
      {
        job_name: PROXY_JOB,
        honor_labels: true,
        kubernetes_sd_configs: [{ role: "pod" }],
        relabel_configs: [
          // One target per container port, or one without a port for a container that declares none:
          // keep the proxy's admin port, or the proxy that declares no ports, and scrape the pod there.
          {
            source_labels: [
              "__meta_kubernetes_pod_container_name",
              "__meta_kubernetes_pod_container_port_number",
            ],
            action: "keep",
            regex: `${PROXY_CONTAINER};(${admin})?`,
          },
          {
            source_labels: ["__meta_kubernetes_pod_ip"],
            target_label: "__address__",
            replacement: `$1:${admin}`,
          },
          ...podIdentity,
          ...workload,
        ],
      },
    ],
  };
}

/** The file Prometheus reads (`prometheus.yml`). */
export function scrapeConfigYaml(settings: ScrapeSettings): string {
  return stringify(scrapeConfig(settings), { lineWidth: 0, aliasDuplicateObjects: false });
}
