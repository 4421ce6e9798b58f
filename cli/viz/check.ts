/**
 * `meshctl viz check`'s categories, run and printed by `meshctl check`'s runner and renderers
 * (cli/check/): the objects `meshctl viz install` makes exist, its Prometheus Deployment is available
 * and its pod ready, Prometheus answers through the API server's service proxy (as every viz command
 * reaches it), and it scrapes what it should: `up{job="trellis-proxy"}` has a target up for every
 * running meshed pod, and the control plane's admin endpoints are scraped too. The context's
 * namespace is the viz namespace.
 */
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { bullets, getObject, isPodReady, listItems, objectPath, podName } from "../check/api.js";
import type { Category, CheckContext, Finding } from "../check/index.js";
import { LABEL_COMPONENT } from "../install/index.js";
import { podRef } from "../pods.js";
import { scrapeablePods, vizPrometheus } from "./cluster.js";
import {
  LABEL_VIZ_COMPONENT,
  PROMETHEUS_NAME,
  prometheusProxyPath,
  VIZ_DEFAULTS,
  vizObjects,
} from "./install.js";
import { CONTROLLER_JOB, PROXY_JOB } from "./scrape-config.js";

const INSTALL_HINT = "install it with `meshctl viz install | kubectl apply -f -`";
const TARGETS_HINT = `see what Prometheus scrapes and why a target is down: \`kubectl get --raw ${prometheusProxyPath("<namespace>")}/api/v1/targets\``;

async function prometheusPods(ctx: CheckContext): Promise<V1Pod[]> {
  const selector = encodeURIComponent(`${LABEL_VIZ_COMPONENT}=${PROMETHEUS_NAME}`);
  return listItems<V1Pod>(ctx, `/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${selector}`);
}

/** `up{job}` as Prometheus answers it through the API server: labels and 1 (up) or 0 (down). */
async function up(ctx: CheckContext, job: string) {
  return vizPrometheus(ctx.api, ctx.namespace, 60).query(`up{job="${job}"}`);
}

export const vizCategory: Category = {
  name: "trellis-viz",
  checks: [
    {
      description: "viz namespace exists",
      hint: INSTALL_HINT,
      fatal: "run",
      async run(ctx) {
        const ns = await getObject(ctx, objectPath("Namespace", undefined, ctx.namespace));
        return ns ? undefined : { error: `the namespace ${ctx.namespace} does not exist` };
      },
    },
    {
      description: "viz ServiceAccount, RBAC, ConfigMap and Service exist",
      hint: INSTALL_HINT,
      async run(ctx) {
        const missing: string[] = [];
        for (const o of vizObjects({ ...VIZ_DEFAULTS, namespace: ctx.namespace })) {
          if (o.kind === "Namespace" || o.kind === "Deployment") continue;
          const found = await getObject(ctx, objectPath(o.kind, o.metadata.namespace, o.metadata.name));
          if (found === undefined) missing.push(`${o.kind}/${o.metadata.name}`);
        }
        return missing.length === 0 ? undefined : { error: bullets("missing:", missing) };
      },
    },
    {
      description: "prometheus Deployment is available",
      hint: "see `kubectl -n <namespace> describe deployment prometheus`; it runs with one replica: `kubectl -n <namespace> scale deployment/prometheus --replicas=1`",
      retryable: true,
      async run(ctx): Promise<Finding> {
        const d = await getObject<V1Deployment>(
          ctx,
          objectPath("Deployment", ctx.namespace, PROMETHEUS_NAME),
        );
        if (!d) return { error: `the Deployment ${ctx.namespace}/${PROMETHEUS_NAME} does not exist` };
        const want = d.spec?.replicas ?? 1;
        const available = d.status?.availableReplicas ?? 0;
        if (want < 1) return { error: `${PROMETHEUS_NAME}: scaled to 0 replicas` };
        return available < want
          ? { error: `${PROMETHEUS_NAME}: ${available}/${want} replicas available` }
          : undefined;
      },
    },
    {
      description: "prometheus pod is running and ready",
      hint: "see `kubectl -n <namespace> describe pod -l trellis.dev/viz-component=prometheus` and its logs",
      retryable: true,
      async run(ctx) {
        const pods = await prometheusPods(ctx);
        if (pods.length === 0) return { error: `no prometheus pod in the namespace ${ctx.namespace}` };
        const ready = pods.filter((p) => p.status?.phase === "Running" && isPodReady(p));
        if (ready.length > 0) return undefined;
        return {
          error: bullets(
            "not ready:",
            pods.map((p) => `${podName(p)}: ${p.status?.phase ?? "Unknown"}, not ready`),
          ),
        };
      },
    },
    {
      description: "prometheus is reachable through the API server",
      hint: "viz reaches Prometheus through the API server's service proxy: the Service <namespace>/prometheus needs a ready endpoint (`kubectl -n <namespace> get endpointslices -l kubernetes.io/service-name=prometheus`)",
      retryable: true,
      fatal: "run",
      async run(ctx) {
        const r = await ctx.api.getText(`${prometheusProxyPath(ctx.namespace)}/-/ready`);
        return r.ok ? undefined : { error: `GET ${prometheusProxyPath(ctx.namespace)}/-/ready: ${r.reason}` };
      },
    },
  ],
};

export const vizDataPlaneCategory: Category = {
  name: "trellis-viz-data-plane",
  checks: [
    {
      description: "prometheus is scraping every meshed pod's proxy",
      hint: TARGETS_HINT,
      retryable: true,
      async run(ctx) {
        const pods = scrapeablePods(await listItems<V1Pod>(ctx, "/api/v1/pods"));
        const targets = await up(ctx, PROXY_JOB);
        const upPods = new Set(
          targets.filter((s) => s.value === 1).map((s) => `${s.labels.namespace}/${s.labels.pod}`),
        );
        const downPods = new Set(
          targets.filter((s) => s.value !== 1).map((s) => `${s.labels.namespace}/${s.labels.pod}`),
        );
        if (pods.length === 0)
          return upPods.size > 0 ? undefined : { warning: "no running meshed pods to scrape yet" };
        const faults = pods
          .map(podRef)
          .filter((p) => !upPods.has(p))
          .map((p) => `${p}: ${downPods.has(p) ? `its target is down` : "not a target yet"}`);
        return faults.length === 0
          ? undefined
          : { error: bullets(`proxies not scraped (job ${PROXY_JOB}):`, faults) };
      },
    },
    {
      description: "prometheus is scraping the control plane",
      hint: TARGETS_HINT,
      retryable: true,
      async run(ctx) {
        const running = (await listItems<V1Pod>(ctx, "/api/v1/pods"))
          .filter((p) => p.metadata?.labels?.[LABEL_COMPONENT] !== undefined && p.status?.phase === "Running")
          .map(podRef);
        const targets = await up(ctx, CONTROLLER_JOB);
        const ref = (s: { labels: Record<string, string> }) => `${s.labels.namespace}/${s.labels.pod}`;
        const upPods = new Set(targets.filter((s) => s.value === 1).map(ref));
        const faults = [
          ...targets.filter((s) => s.value !== 1).map((s) => `${ref(s)}: its target is down`),
          // A pod Prometheus has not discovered or scraped yet: retried under --wait.
          ...running
            .filter((p) => !upPods.has(p) && !targets.some((s) => ref(s) === p))
            .map((p) => `${p}: not a target yet`),
        ];
        if (faults.length > 0)
          return { error: bullets(`control plane not scraped (job ${CONTROLLER_JOB}):`, faults) };
        return targets.length > 0 || running.length > 0
          ? undefined
          : { warning: "no control-plane pod is scraped: is Trellis installed?" };
      },
    },
  ],
};

/** The categories of `meshctl viz check`, in the order they run and print. */
export const VIZ_CATEGORIES: readonly Category[] = [vizCategory, vizDataPlaneCategory];
