/**
 * The services proxies depend on, and the proxies themselves (`--proxy`). The destination service
 * answers gRPC only to clients holding a mesh certificate, which meshctl has no business minting, and
 * the API server's pod proxy carries HTTP/1.1 only; so each destination pod is asked, through that pod
 * proxy, for its admin server's read-only `/endpoints` lookup of `kubernetes.default`, which resolves
 * the name and reads the same watcher topic a proxy's `Get` reads. Before it: each pod's /ready (200
 * only once its informers have synced and identity has issued its certificate), and after it, its
 * Service having ready endpoints for proxies to reach.
 */
import type { V1ConfigMap, V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import { DEFAULTS as PROXY_DEFAULTS, ENV as PROXY_ENV } from "../../../proxy/config.js";
import { ANNOTATION_INJECT } from "../../install/fragments.js";
import {
  CONFIG_CONFIGMAP,
  DESTINATION_ADMIN_PORT,
  LABEL_COMPONENT,
  TRUST_ROOTS_CONFIGMAP,
  TRUST_ROOTS_KEY,
} from "../../install/index.js";
import { bullets, getObject, isFinishedJobPod, isPodReady, listItems, objectPath, podName } from "../api.js";
import type { Category, CheckContext } from "../types.js";
import { adminReady } from "./identity.js";

const DESTINATION_SERVICE = "trellis-destination";
const RESTART_HINT =
  "restart the pods so the injector gives them the current proxy: `kubectl rollout restart`";

export const trellisDestination: Category = {
  name: "trellis-destination",
  checks: [
    {
      description: "destination service is ready to answer lookups",
      hint: "see the destination pod's log: `kubectl -n <namespace> logs deploy/trellis-destination`",
      retryable: true,
      async run(ctx) {
        return adminReady(ctx, await destinationPods(ctx), DESTINATION_ADMIN_PORT, "destination");
      },
    },
    {
      description: "destination service answers a lookup of kubernetes.default",
      hint: "the destination service does not see the cluster's Services: see its pod's log for informer errors and check its RBAC (`kubectl -n <namespace> logs deploy/trellis-destination`)",
      retryable: true,
      async run(ctx) {
        const config = await getObject<V1ConfigMap>(
          ctx,
          objectPath("ConfigMap", ctx.namespace, CONFIG_CONFIGMAP),
        );
        const authority = `kubernetes.default.svc.${config?.data?.clusterDomain ?? "cluster.local"}:443`;
        const faults: string[] = [];
        const pods = (await destinationPods(ctx)).filter((p) => p.status?.phase === "Running");
        if (pods.length === 0) return { error: "no destination pod is running" };
        for (const p of pods) {
          const r = await ctx.api.getText(
            `/api/v1/namespaces/${ctx.namespace}/pods/${p.metadata?.name}:${DESTINATION_ADMIN_PORT}/proxy/endpoints?authority=${encodeURIComponent(authority)}`,
          );
          if (!r.ok) {
            faults.push(`${podName(p)}: ${r.reason}`);
            continue;
          }
          let answer: { exists?: boolean };
          try {
            answer = JSON.parse(r.body) as { exists?: boolean };
          } catch {
            faults.push(`${podName(p)}: the lookup answered something other than JSON`);
            continue;
          }
          if (answer.exists !== true) faults.push(`${podName(p)}: does not know the Service ${authority}`);
        }
        return faults.length === 0 ? undefined : { error: bullets("lookups failed:", faults) };
      },
    },
    {
      description: "destination Service has ready endpoints",
      hint: "proxies cannot discover anything: scale the Deployment trellis-destination up and see its pods",
      retryable: true,
      async run(ctx) {
        const selector = encodeURIComponent(`kubernetes.io/service-name=${DESTINATION_SERVICE}`);
        const slices = await listItems<V1EndpointSlice>(
          ctx,
          `/apis/discovery.k8s.io/v1/namespaces/${ctx.namespace}/endpointslices?labelSelector=${selector}`,
        );
        const ready = slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false);
        return ready.length > 0
          ? undefined
          : { error: `the Service ${ctx.namespace}/${DESTINATION_SERVICE} has no ready endpoint` };
      },
    },
  ],
};

function destinationPods(ctx: CheckContext): Promise<V1Pod[]> {
  const selector = encodeURIComponent(`${LABEL_COMPONENT}=destination`);
  return listItems<V1Pod>(ctx, `/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${selector}`);
}

interface MeshedPods {
  meshed: V1Pod[];
  /** Annotated for injection (or in an annotated namespace) but without a proxy. */
  missed: V1Pod[];
}

async function dataPlanePods(ctx: CheckContext): Promise<MeshedPods> {
  const path = ctx.proxyNamespace ? `/api/v1/namespaces/${ctx.proxyNamespace}/pods` : "/api/v1/pods";
  const pods = (await listItems<V1Pod>(ctx, path)).filter((p) => !isFinishedJobPod(p));
  const namespaces = await listItems<{ metadata?: { name?: string; annotations?: Record<string, string> } }>(
    ctx,
    "/api/v1/namespaces",
  );
  const injectedNs = new Set(
    namespaces
      .filter((n) => n.metadata?.annotations?.[ANNOTATION_INJECT] === "enabled")
      .map((n) => n.metadata?.name),
  );
  const hasProxy = (p: V1Pod) =>
    [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].some(
      (c) => c.name === PROXY_CONTAINER,
    );
  const wantsProxy = (p: V1Pod) => {
    const a = p.metadata?.annotations?.[ANNOTATION_INJECT];
    return a === "enabled" || (a !== "disabled" && injectedNs.has(p.metadata?.namespace));
  };
  return {
    meshed: pods.filter(hasProxy),
    missed: pods.filter((p) => !hasProxy(p) && wantsProxy(p) && p.status?.phase === "Running"),
  };
}

function proxyContainer(p: V1Pod) {
  return [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find(
    (c) => c.name === PROXY_CONTAINER,
  );
}

function adminPort(p: V1Pod): string {
  const listen =
    proxyContainer(p)?.env?.find((e) => e.name === PROXY_ENV.ADMIN_LISTEN_ADDR)?.value ??
    PROXY_DEFAULTS.ADMIN_LISTEN_ADDR;
  return listen.slice(listen.lastIndexOf(":") + 1);
}

/** The value of a gauge without labels in Prometheus text, or undefined. */
export function gauge(metrics: string, name: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  const value = line?.trim().split(/\s+/).at(-1);
  return value === undefined ? undefined : Number(value);
}

export const trellisDataPlane: Category = {
  name: "trellis-data-plane",
  checks: [
    {
      description: "data plane namespace exists",
      hint: "name an existing namespace with -n",
      fatal: "category",
      async run(ctx) {
        if (!ctx.proxyNamespace) return undefined;
        const ns = await getObject(ctx, objectPath("Namespace", undefined, ctx.proxyNamespace));
        return ns ? undefined : { error: `the namespace ${ctx.proxyNamespace} does not exist` };
      },
    },
    {
      description: "data plane proxies are ready",
      hint: "see the proxy's log: `kubectl logs <pod> -c trellis-proxy`",
      retryable: true,
      async run(ctx) {
        const faults: string[] = [];
        for (const p of (await dataPlanePods(ctx)).meshed) {
          const r = await ctx.api.getText(
            `/api/v1/namespaces/${p.metadata?.namespace}/pods/${p.metadata?.name}:${adminPort(p)}/proxy/ready`,
          );
          if (!r.ok) faults.push(`${podName(p)}: ${r.reason}`);
          else if (!isPodReady(p)) faults.push(`${podName(p)}: not marked Ready yet`);
        }
        return faults.length === 0 ? undefined : { error: bullets("proxies not ready:", faults) };
      },
    },
    {
      description: "data plane proxies run the control plane's version",
      hint: RESTART_HINT,
      async run(ctx) {
        const config = await getObject<V1ConfigMap>(
          ctx,
          objectPath("ConfigMap", ctx.namespace, CONFIG_CONFIGMAP),
        );
        const image = config?.data?.proxyImage;
        if (!image) return { error: `ConfigMap ${ctx.namespace}/${CONFIG_CONFIGMAP} names no proxyImage` };
        const old = (await dataPlanePods(ctx)).meshed
          .filter((p) => proxyContainer(p)?.image !== image)
          .map((p) => `${podName(p)} runs ${proxyContainer(p)?.image}`);
        return old.length === 0 ? undefined : { warning: bullets(`proxies not on ${image}:`, old) };
      },
    },
    {
      description: "data plane proxies' certificates are valid and trust the current anchors",
      hint: RESTART_HINT,
      async run(ctx) {
        const cm = await getObject<V1ConfigMap>(
          ctx,
          objectPath("ConfigMap", ctx.namespace, TRUST_ROOTS_CONFIGMAP),
        );
        const current = cm?.data?.[TRUST_ROOTS_KEY]?.trim();
        const faults: string[] = [];
        for (const p of (await dataPlanePods(ctx)).meshed) {
          const env = proxyContainer(p)
            ?.env?.find((e) => e.name === PROXY_ENV.IDENTITY_TRUST_ANCHORS)
            ?.value?.trim();
          if (current && env !== undefined && env !== current)
            faults.push(`${podName(p)}: trusts other anchors`);
          const r = await ctx.api.getText(
            `/api/v1/namespaces/${p.metadata?.namespace}/pods/${p.metadata?.name}:${adminPort(p)}/proxy/metrics`,
          );
          if (!r.ok) {
            faults.push(`${podName(p)}: cannot read its metrics: ${r.reason}`);
            continue;
          }
          const expiry = gauge(r.body, "identity_cert_expiration_timestamp_seconds");
          if (expiry === undefined || expiry === 0) faults.push(`${podName(p)}: has no certificate yet`);
          else if (expiry * 1000 <= ctx.now().getTime())
            faults.push(`${podName(p)}: its certificate expired at ${new Date(expiry * 1000).toISOString()}`);
        }
        return faults.length === 0
          ? undefined
          : { error: bullets("proxies without a current certificate:", faults) };
      },
    },
    {
      description: "pods annotated for injection run a proxy",
      hint: RESTART_HINT,
      async run(ctx) {
        const missed = (await dataPlanePods(ctx)).missed.map(podName);
        return missed.length === 0
          ? undefined
          : {
              warning: bullets(`annotated ${ANNOTATION_INJECT}=enabled but running without a proxy:`, missed),
            };
      },
    },
  ],
};
