/**
 * viz's sources in a cluster, reached only through the API server with the kubeconfig's credentials
 * (as `kubectl` would, so nothing needs a port-forward): the viz Prometheus through the service
 * proxy when `meshctl viz install` put one there, else each meshed pod's proxy through the pod proxy,
 * scraped at the start and the end of the window; and the TrafficSplits a `trafficsplit` row needs.
 */
import type { V1Pod, V1Service } from "@kubernetes/client-node";
import type { RestClient } from "../../control/k8s/index.js";
import type { Fetcher, ScrapeTarget } from "../../viz/direct.js";
import { type TrafficSplit, type TrafficSplitObject, trafficSplitOf } from "../../viz/golden.js";
import { type PrometheusAnswer, PrometheusSource } from "../../viz/promql.js";
import { InputError } from "../errors.js";
import { isMeshed, podProxyPath, podRef, proxyAdminPort, workloadLabels } from "../pods.js";
import { PROMETHEUS_NAME, prometheusProxyPath } from "./install.js";

type Api = Pick<RestClient, "get" | "getText" | "serverUrl">;

/** GETs JSON or fails with one line naming what was asked. */
async function read<T>(api: Api, path: string, what: string): Promise<T | undefined> {
  const r = await api.get<T>(path);
  if (!r.ok) throw new InputError(`cannot read ${what} from the API server at ${api.serverUrl}: ${r.reason}`);
  return r.body;
}

/** Fails with one line when the namespace a command names does not exist. */
export async function requireNamespace(api: Api, namespace: string): Promise<void> {
  if ((await read(api, `/api/v1/namespaces/${namespace}`, `the namespace ${namespace}`)) === undefined)
    throw new InputError(`the namespace ${namespace} does not exist (see kubectl get namespaces)`);
}

/** Whether `meshctl viz install` put its Prometheus's Service in `vizNamespace`. */
export async function vizPrometheusInstalled(api: Api, vizNamespace: string): Promise<boolean> {
  const path = `/api/v1/namespaces/${vizNamespace}/services/${PROMETHEUS_NAME}`;
  const r = await api.get<V1Service>(path);
  if (!r.ok)
    throw new InputError(
      `cannot read the Service ${vizNamespace}/${PROMETHEUS_NAME} from the API server at ${api.serverUrl}: ${r.reason}; to scrape the proxies without it, pass --direct`,
    );
  return r.body !== undefined;
}

/** The viz Prometheus, every request a path on the API server, through its service proxy. */
export function vizPrometheus(
  api: Pick<RestClient, "getText">,
  vizNamespace: string,
  windowSeconds: number,
): PrometheusSource {
  return new PrometheusSource(prometheusProxyPath(vizNamespace), windowSeconds, {
    description: `the viz Prometheus (service ${vizNamespace}/${PROMETHEUS_NAME}, through the API server)`,
    unreachableHint: "see `meshctl viz check`, or read the proxies themselves with --direct",
    transport: async (url): Promise<PrometheusAnswer> => {
      const r = await api.getText(url);
      return r.ok ? { status: r.status, body: r.body } : { unreachable: r.reason };
    },
  });
}

/** GETs a proxy's metrics from a path on the API server; throws the reason it could not. */
export function apiFetcher(api: Api): Fetcher {
  return async (url) => {
    const r = await api.getText(url);
    if (!r.ok) throw new Error(`GET ${url}: ${r.reason}`);
    return r.body;
  };
}

/** Pods with a running proxy: meshed, Running, with an address for the pod proxy to reach. */
export function scrapeablePods(pods: readonly V1Pod[]): V1Pod[] {
  return pods.filter((p) => isMeshed(p) && p.status?.phase === "Running" && !!p.status?.podIP);
}

/**
 * The scrape target of a meshed pod: its admin port through the API server's pod proxy (a path on the
 * API server), labelled as the viz Prometheus labels it.
 */
export function podTarget(pod: V1Pod): ScrapeTarget {
  return {
    admin: podRef(pod),
    url: podProxyPath(pod, proxyAdminPort(pod), "/metrics"),
    labels: {
      namespace: pod.metadata?.namespace ?? "",
      pod: pod.metadata?.name ?? "",
      ...workloadLabels(pod),
    },
  };
}

/** Every running meshed pod of a namespace (all of them when undefined); none is one line, exit 1. */
export async function meshedPodTargets(api: Api, namespace: string | undefined): Promise<ScrapeTarget[]> {
  const path = namespace === undefined ? "/api/v1/pods" : `/api/v1/namespaces/${namespace}/pods`;
  const list = await read<{ items?: V1Pod[] }>(api, path, "the pods");
  const pods = scrapeablePods(list?.items ?? []);
  if (pods.length === 0)
    throw new InputError(
      `no running meshed pods ${namespace === undefined ? "in any namespace" : `in namespace ${namespace}`} (pods with the trellis-proxy container); mesh them with meshctl inject`,
    );
  return pods.map(podTarget);
}

/** The cluster's TrafficSplits (SMI v1alpha2, integer weights), of a namespace or all. */
export async function clusterSplits(api: Api, namespace: string | undefined): Promise<TrafficSplit[]> {
  const base = "/apis/split.smi-spec.io/v1alpha2";
  const path =
    namespace === undefined ? `${base}/trafficsplits` : `${base}/namespaces/${namespace}/trafficsplits`;
  const list = await read<{ items?: TrafficSplitObject[] }>(api, path, "the TrafficSplits");
  return (list?.items ?? []).flatMap((o) => trafficSplitOf(o) ?? []);
}
