/**
 * The installed control plane as objects: the CRDs present, Established and serving the versions install
 * defines; the namespace, ServiceAccounts and RBAC install makes; the Deployments available with every
 * replica; their pods running and ready, none restarting in a loop. Pods of finished Jobs are ignored.
 */
import type { V1CustomResourceDefinition, V1Deployment, V1Pod } from "@kubernetes/client-node";
import { CONFIG_CONFIGMAP } from "../../install/index.js";
import {
  bullets,
  getObject,
  installedCrds,
  installedObjects,
  isFinishedJobPod,
  isPodReady,
  listItems,
  objectPath,
  podName,
} from "../api.js";
import type { Category, CheckContext, Finding } from "../types.js";

const CRDS_HINT = "install them with `meshctl install --crds | kubectl apply -f -`";
const INSTALL_HINT = "install the control plane with `meshctl install | kubectl apply -f -`";

async function clusterCrds(ctx: CheckContext) {
  return Promise.all(
    installedCrds().map(async (want) => ({
      want,
      have: await getObject<V1CustomResourceDefinition>(
        ctx,
        objectPath("CustomResourceDefinition", undefined, want.metadata.name),
      ),
    })),
  );
}

export const trellisCrds: Category = {
  name: "trellis-crds",
  checks: [
    {
      description: "control plane CustomResourceDefinitions exist",
      hint: CRDS_HINT,
      fatal: "category",
      async run(ctx) {
        const missing = (await clusterCrds(ctx)).filter((c) => !c.have).map((c) => c.want.metadata.name);
        return missing.length === 0
          ? undefined
          : { error: bullets("missing CustomResourceDefinitions:", missing) };
      },
    },
    {
      description: "control plane CustomResourceDefinitions are Established",
      hint: "the API server has not accepted them yet; wait, or see `kubectl describe crd <name>` for why",
      retryable: true,
      async run(ctx) {
        const pending = (await clusterCrds(ctx))
          .filter(
            (c) => !c.have?.status?.conditions?.some((k) => k.type === "Established" && k.status === "True"),
          )
          .map((c) => c.want.metadata.name);
        return pending.length === 0 ? undefined : { error: bullets("not Established:", pending) };
      },
    },
    {
      description: "control plane CustomResourceDefinitions serve the versions Trellis uses",
      hint: `they come from another version of Trellis: ${CRDS_HINT}`,
      async run(ctx) {
        const faults: string[] = [];
        for (const { want, have } of await clusterCrds(ctx)) {
          const wanted = ((want.spec as { versions?: { name: string; served?: boolean }[] }).versions ?? [])
            .filter((v) => v.served)
            .map((v) => v.name);
          const served = new Set((have?.spec.versions ?? []).filter((v) => v.served).map((v) => v.name));
          const absent = wanted.filter((v) => !served.has(v));
          if (absent.length > 0) faults.push(`${want.metadata.name} does not serve ${absent.join(", ")}`);
        }
        return faults.length === 0 ? undefined : { error: bullets("versions not served:", faults) };
      },
    },
  ],
};

/** The names of install's objects of these kinds, checked for presence. */
function existCheck(description: string, kinds: readonly string[]) {
  return {
    description,
    hint: INSTALL_HINT,
    async run(ctx: CheckContext): Promise<Finding> {
      const missing: string[] = [];
      for (const o of installedObjects(ctx.namespace).filter((o) => kinds.includes(o.kind))) {
        const found = await getObject(ctx, objectPath(o.kind, ctx.namespace, o.metadata.name));
        if (found === undefined) missing.push(`${o.kind}/${o.metadata.name}`);
      }
      return missing.length === 0 ? undefined : { error: bullets("missing:", missing) };
    },
  };
}

/** The pods of the control plane's namespace that should be running. */
async function controlPlanePods(ctx: CheckContext): Promise<V1Pod[]> {
  const pods = await listItems<V1Pod>(ctx, `/api/v1/namespaces/${ctx.namespace}/pods`);
  return pods.filter((p) => !isFinishedJobPod(p));
}

export const trellisControlPlane: Category = {
  name: "trellis-control-plane",
  checks: [
    {
      description: "control plane namespace exists",
      hint: INSTALL_HINT,
      fatal: "run",
      async run(ctx) {
        const ns = await getObject(ctx, objectPath("Namespace", undefined, ctx.namespace));
        return ns ? undefined : { error: `the namespace ${ctx.namespace} does not exist` };
      },
    },
    existCheck(`'${CONFIG_CONFIGMAP}' and the identity ConfigMaps and Secret exist`, ["ConfigMap", "Secret"]),
    existCheck("control plane ServiceAccounts exist", ["ServiceAccount"]),
    existCheck("control plane ClusterRoles and ClusterRoleBindings exist", [
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
    ]),
    {
      description: "control plane Deployments are available",
      hint: "see `kubectl -n <namespace> describe deployment <name>` and the pods' events",
      retryable: true,
      async run(ctx) {
        const faults: string[] = [];
        for (const o of installedObjects(ctx.namespace).filter((o) => o.kind === "Deployment")) {
          const d = await getObject<V1Deployment>(
            ctx,
            objectPath("Deployment", ctx.namespace, o.metadata.name),
          );
          if (!d) {
            faults.push(`${o.metadata.name}: missing`);
            continue;
          }
          const want = d.spec?.replicas ?? 1;
          const available = d.status?.availableReplicas ?? 0;
          // Kubernetes calls a Deployment scaled to 0 available; the mesh does not.
          if (want < 1) faults.push(`${o.metadata.name}: scaled to 0 replicas`);
          else if (available < want)
            faults.push(`${o.metadata.name}: ${available}/${want} replicas available`);
        }
        return faults.length === 0 ? undefined : { error: bullets("Deployments not available:", faults) };
      },
    },
    {
      description: "control plane pods are running and ready",
      hint: "see `kubectl -n <namespace> describe pod <name>` and its logs",
      retryable: true,
      async run(ctx) {
        const pods = await controlPlanePods(ctx);
        if (pods.length === 0) return { error: `no pods in the namespace ${ctx.namespace}` };
        const faults = pods
          .filter((p) => p.status?.phase !== "Running" || !isPodReady(p))
          .map((p) => `${podName(p)}: ${p.status?.phase ?? "Unknown"}${isPodReady(p) ? "" : ", not ready"}`);
        return faults.length === 0 ? undefined : { error: bullets("pods not ready:", faults) };
      },
    },
    {
      description: "control plane pods are not restarting in a loop",
      hint: "see the previous logs: `kubectl -n <namespace> logs <pod> --previous`",
      retryable: true,
      async run(ctx) {
        const looping = (await controlPlanePods(ctx)).flatMap((p) =>
          (p.status?.containerStatuses ?? [])
            .filter((c) => c.state?.waiting?.reason === "CrashLoopBackOff")
            .map((c) => `${podName(p)} (${c.name}, ${c.restartCount} restarts)`),
        );
        return looping.length === 0
          ? undefined
          : { error: bullets("containers in CrashLoopBackOff:", looping) };
      },
    },
  ],
};
