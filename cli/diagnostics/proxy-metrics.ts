/**
 * `meshctl diagnostics proxy-metrics`: the raw `/metrics` of the proxies of one pod or of a workload's
 * pods, read through the API server's pod proxy as `viz --direct` reads them (no port-forward), for
 * when a dashboard is not enough: every series, with every label, as Prometheus would scrape it.
 */
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import type { RestClient } from "../../control/k8s/index.js";
import { parseResource as parseVizResource } from "../../viz/resources.js";
import { InputError, UsageError } from "../errors.js";
import { isMeshed, podProxyPath, podRef, proxyAdminPort, workloadLabels } from "../pods.js";

type Api = Pick<RestClient, "get" | "getText" | "serverUrl">;

/** The kinds whose pods have proxies to read. */
const WORKLOAD_KINDS = ["pod", "deployment", "statefulset", "daemonset"] as const;
type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** `kind/name` (kubectl's short names and plurals, as viz takes them), or a bare pod name. */
export function parseResource(text: string): { kind: WorkloadKind; name: string } {
  const parsed = text.includes("/") ? parseVizResource(text) : { kind: "pod" as const, name: text };
  if ("error" in parsed || !parsed.name || !(WORKLOAD_KINDS as readonly string[]).includes(parsed.kind))
    throw new UsageError(
      `"${text}" is not a resource of the form pod/NAME, deploy/NAME, sts/NAME or ds/NAME (or a pod's name)`,
    );
  return { kind: parsed.kind as WorkloadKind, name: parsed.name };
}

/** One pod's metrics, or why they could not be read. */
export type PodMetrics = { pod: string; body: string } | { pod: string; error: string };

/** The pods `resource` names in `namespace`, each with its proxy's metrics or the reason it has none. */
export async function proxyMetrics(api: Api, namespace: string, resource: string): Promise<PodMetrics[]> {
  const { kind, name } = parseResource(resource);
  const pods =
    kind === "pod" ? [await readPod(api, namespace, name)] : await workloadPods(api, namespace, kind, name);
  return Promise.all(
    pods.map(async (pod): Promise<PodMetrics> => {
      const ref = podRef(pod);
      if (!isMeshed(pod))
        return { pod: ref, error: `${ref} has no trellis-proxy container: mesh it with meshctl inject` };
      if (pod.status?.phase !== "Running")
        return {
          pod: ref,
          error: `${ref} is ${pod.status?.phase ?? "not running"}: its proxy has no metrics to read`,
        };
      const r = await api.getText(podProxyPath(pod, proxyAdminPort(pod), "/metrics"));
      if (!r.ok)
        return { pod: ref, error: `cannot read the metrics of ${ref} through the API server: ${r.reason}` };
      return { pod: ref, body: r.body };
    }),
  );
}

/** The metrics as Linkerd's `diagnostics proxy-metrics` prints them: a header per pod, then its series. */
export function renderProxyMetrics(results: readonly PodMetrics[]): string {
  return results
    .flatMap((r, i) =>
      "body" in r ? [`#\n# POD ${r.pod} (${i + 1} of ${results.length})\n#\n${r.body.trimEnd()}\n`] : [],
    )
    .join("");
}

async function readPod(api: Api, namespace: string, name: string): Promise<V1Pod> {
  const r = await api.get<V1Pod>(`/api/v1/namespaces/${namespace}/pods/${name}`);
  if (!r.ok)
    throw new InputError(
      `cannot read pod ${namespace}/${name} from the API server at ${api.serverUrl}: ${r.reason}`,
    );
  if (!r.body)
    throw new InputError(`pod ${namespace}/${name} not found (see kubectl get pods -n ${namespace})`);
  return r.body;
}

async function workloadPods(api: Api, namespace: string, kind: string, name: string): Promise<V1Pod[]> {
  const r = await api.get<V1PodList>(`/api/v1/namespaces/${namespace}/pods`);
  if (!r.ok)
    throw new InputError(
      `cannot list the pods of ${namespace} from the API server at ${api.serverUrl}: ${r.reason}`,
    );
  const pods = (r.body?.items ?? []).filter((p) => workloadLabels(p)[kind] === name);
  if (pods.length === 0)
    throw new InputError(`no pods of ${kind} ${namespace}/${name} (see kubectl get ${kind} -n ${namespace})`);
  return pods.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
}
