/**
 * What `meshctl viz install` renders: a Prometheus (the official image) in its own namespace that
 * scrapes every proxy and the control plane (./scrape-config.ts). A ServiceAccount with a ClusterRole
 * that may only read pods (what pod discovery needs), the configuration in a ConfigMap, a Deployment
 * running as nobody with a read-only root filesystem, an emptyDir for its short-lived data, probes on
 * Prometheus's own /-/ready and /-/healthy, and a Service on 9090 that viz reaches through the API
 * server's service proxy. Put in apply order, labelled and printed by install's renderer.
 */
import { createHash } from "node:crypto";
import type { V1Deployment } from "@kubernetes/client-node";
import { InvalidArgumentError } from "commander";
import { ANNOTATIONS } from "../../control/common/annotations.js";
import { parseDuration } from "../../viz/promql.js";
import { containerSecurityContext, podSecurityContext, resourceRequirements } from "../install/fragments.js";
import { inApplyOrder, type K8sObject, LABEL_VERSION, uninstallObjects } from "../install/index.js";
import { VERSION } from "../version.js";
import { scrapeConfigYaml } from "./scrape-config.js";

export const VIZ_NAMESPACE = "trellis-viz";
/** The Deployment, Service and ServiceAccount of the viz Prometheus. */
export const PROMETHEUS_NAME = "prometheus";
export const PROMETHEUS_PORT = 9090;
export const PROMETHEUS_CONFIGMAP = "prometheus-config";
export const PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0";
/** nobody, as the official image runs. */
export const PROMETHEUS_UID = 65534;
/** Marks every object viz install makes. */
export const LABEL_EXTENSION = "trellis.dev/extension";
/** Selects the viz Prometheus's pods. */
export const LABEL_VIZ_COMPONENT = "trellis.dev/viz-component";

const CONFIG_DIR = "/etc/prometheus";
const DATA_DIR = "/prometheus";
const RESOURCES = { cpuRequest: "100m", memoryRequest: "256Mi", memoryLimit: "1Gi" };

export interface VizInstallValues {
  namespace: string;
  prometheusImage: string;
  scrapeInterval: string;
  retention: string;
}

export const VIZ_DEFAULTS = {
  namespace: VIZ_NAMESPACE,
  prometheusImage: PROMETHEUS_IMAGE,
  scrapeInterval: "10s",
  retention: "6h",
} as const;

/** The API server's path to the viz Prometheus's HTTP API, through its service proxy. */
export function prometheusProxyPath(namespace: string): string {
  return `/api/v1/namespaces/${namespace}/services/http:${PROMETHEUS_NAME}:${PROMETHEUS_PORT}/proxy`;
}

// ── Flag parsers: each throws commander's InvalidArgumentError, a usage error naming the flag. ─────

/** A duration as Prometheus writes them (`30s`, `1m`, `6h`, `1h30m`), of at least `minSeconds`. */
export function prometheusDurationArg(minSeconds: number): (value: string) => string {
  return (value) => {
    const seconds = /^(\d+(ms|s|m|h|d))+$/.test(value) ? parseDuration(value) : undefined;
    if (seconds === undefined || seconds < minSeconds)
      throw new InvalidArgumentError(`expected a duration of at least ${minSeconds}s such as 10s, 1m or 6h`);
    return value;
  };
}

export function imageArg(value: string): string {
  if (!/^[a-z0-9][a-z0-9._/:@-]*$/.test(value) || value.endsWith(":") || value.endsWith("/"))
    throw new InvalidArgumentError("expected an image reference such as prom/prometheus:v3.5.0");
  return value;
}

function prometheusDeployment(v: VizInstallValues, config: string): V1Deployment {
  const selector = { [LABEL_VIZ_COMPONENT]: PROMETHEUS_NAME };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: PROMETHEUS_NAME, namespace: v.namespace, labels: { ...selector } },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels: { ...selector, [LABEL_VERSION]: VERSION },
          annotations: {
            [ANNOTATIONS.INJECT]: "disabled",
            // A changed scrape configuration rolls the pod, which reads it at start.
            [ANNOTATIONS.CONFIG_CHECKSUM]: createHash("sha256").update(config).digest("hex"),
          },
        },
        spec: {
          serviceAccountName: PROMETHEUS_NAME,
          // Pod discovery reads the API with this account's token.
          automountServiceAccountToken: true,
          nodeSelector: { "kubernetes.io/os": "linux" },
          securityContext: podSecurityContext(PROMETHEUS_UID),
          containers: [
            {
              name: PROMETHEUS_NAME,
              image: v.prometheusImage,
              imagePullPolicy: "IfNotPresent",
              args: [
                `--config.file=${CONFIG_DIR}/prometheus.yml`,
                `--storage.tsdb.path=${DATA_DIR}`,
                `--storage.tsdb.retention.time=${v.retention}`,
                `--web.listen-address=:${PROMETHEUS_PORT}`,
                "--log.level=info",
              ],
              ports: [{ name: "http", containerPort: PROMETHEUS_PORT, protocol: "TCP" }],
              readinessProbe: {
                httpGet: { path: "/-/ready", port: "http" },
                periodSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: "/-/healthy", port: "http" },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              // Replaying the write-ahead log after a restart may take a while before /-/healthy answers.
              startupProbe: {
                httpGet: { path: "/-/healthy", port: "http" },
                periodSeconds: 5,
                failureThreshold: 60,
              },
              resources: resourceRequirements(RESOURCES),
              securityContext: containerSecurityContext(PROMETHEUS_UID),
              volumeMounts: [
                { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                { name: "data", mountPath: DATA_DIR },
              ],
            },
          ],
          volumes: [
            { name: "config", configMap: { name: PROMETHEUS_CONFIGMAP } },
            { name: "data", emptyDir: { sizeLimit: "1Gi" } },
          ],
        },
      },
    },
  };
}

/** Every object of the viz install, in apply order and labelled. */
export function vizObjects(v: VizInstallValues): K8sObject[] {
  const config = scrapeConfigYaml({ scrapeInterval: v.scrapeInterval });
  const clusterName = `trellis-${v.namespace}-${PROMETHEUS_NAME}`;
  const component = { [LABEL_VIZ_COMPONENT]: PROMETHEUS_NAME };
  const objects: K8sObject[] = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      // Prometheus scrapes the proxies' plaintext admin port: it needs no proxy of its own.
      metadata: { name: v.namespace, annotations: { [ANNOTATIONS.INJECT]: "disabled" } },
    },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: PROMETHEUS_NAME, namespace: v.namespace, labels: component },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: clusterName, labels: component },
      // Pod discovery in every namespace, read-only; nothing else.
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: clusterName, labels: component },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterName },
      subjects: [{ kind: "ServiceAccount", name: PROMETHEUS_NAME, namespace: v.namespace }],
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: PROMETHEUS_CONFIGMAP, namespace: v.namespace, labels: component },
      data: { "prometheus.yml": config },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: PROMETHEUS_NAME, namespace: v.namespace, labels: component },
      spec: {
        type: "ClusterIP",
        selector: component,
        ports: [{ name: "http", port: PROMETHEUS_PORT, targetPort: "http", protocol: "TCP" }],
      },
    },
    prometheusDeployment(v, config) as K8sObject,
  ];
  return inApplyOrder(objects, { [LABEL_EXTENSION]: "viz", [LABEL_VERSION]: VERSION });
}

/** What `kubectl delete -f -` needs: the cluster-scoped objects and the namespace, which takes the rest. */
export function vizUninstallObjects(namespace: string): K8sObject[] {
  const objects = vizObjects({ ...VIZ_DEFAULTS, namespace });
  return uninstallObjects(objects.filter((o) => o.metadata.namespace === undefined));
}
