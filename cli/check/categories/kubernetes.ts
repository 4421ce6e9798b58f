/**
 * The cluster itself: the API server answers and runs a supported version (always), and, before an
 * install (`--pre`), this user may create every object install makes and no earlier install is in the
 * way. What install makes is read from cli/install, never listed here.
 */
import { LABEL_CONTROL_PLANE_NS } from "../../install/index.js";
import {
  bullets,
  getObject,
  installedCrds,
  installedObjects,
  listItems,
  objectPath,
  RESOURCES,
} from "../api.js";
import type { Category, CheckContext, Finding } from "../types.js";

/** The oldest Kubernetes minor version Trellis supports (native sidecars, projected tokens, EndpointSlices v1). */
export const MIN_KUBERNETES = { major: 1, minor: 29 } as const;

interface VersionInfo {
  major?: string;
  minor?: string;
  gitVersion?: string;
}

export const kubernetesApi: Category = {
  name: "kubernetes-api",
  checks: [
    {
      description: "can query the Kubernetes API",
      hint: "check that the kubeconfig (KUBECONFIG, --kubeconfig, --context) points at a running cluster and that its credentials are valid",
      fatal: "run",
      retryable: true,
      async run(ctx) {
        const r = await ctx.api.get<VersionInfo>("/version");
        if (!r.ok) return { error: r.reason };
        return undefined;
      },
    },
  ],
};

export const kubernetesVersion: Category = {
  name: "kubernetes-version",
  checks: [
    {
      description: "is running the minimum Kubernetes API version",
      hint: `upgrade the cluster to Kubernetes ${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor} or later`,
      async run(ctx) {
        const v = await getObject<VersionInfo>(ctx, "/version");
        const major = Number.parseInt(v?.major ?? "", 10);
        const minor = Number.parseInt(v?.minor ?? "", 10);
        if (!Number.isFinite(major) || !Number.isFinite(minor))
          return { error: `cannot read the server's version from ${JSON.stringify(v)}` };
        if (major > MIN_KUBERNETES.major || (major === MIN_KUBERNETES.major && minor >= MIN_KUBERNETES.minor))
          return undefined;
        return {
          error: `the API server runs ${v?.gitVersion ?? `${major}.${minor}`}; Trellis needs ${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor} or later`,
        };
      },
    },
  ],
};

interface AccessReview {
  status?: { allowed?: boolean; reason?: string };
}

/** Whether the user may create objects of `kind` (in `namespace`, when namespaced). */
async function canCreate(ctx: CheckContext, kind: string, namespace: string): Promise<string | undefined> {
  const r = RESOURCES[kind];
  if (!r) return `no API path known for kind ${kind}`;
  const review = await ctx.api.post<AccessReview>("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    spec: {
      resourceAttributes: {
        verb: "create",
        group: r.group,
        resource: r.resource,
        ...(r.namespaced ? { namespace } : {}),
      },
    },
  });
  if (!review.ok) return `${kind}: the access review failed: ${review.reason}`;
  if (review.body.status?.allowed) return undefined;
  return `${kind}${review.body.status?.reason ? ` (${review.body.status.reason})` : ""}`;
}

/** One check per group of kinds install makes, as Linkerd's "can create ..." lines. */
function canCreateCheck(description: string, kinds: (ctx: CheckContext) => string[]) {
  return {
    description,
    hint: "install needs a user allowed to create these (cluster-admin, or the verbs listed); ask a cluster administrator",
    async run(ctx: CheckContext): Promise<Finding> {
      const denied: string[] = [];
      for (const kind of kinds(ctx)) {
        const why = await canCreate(ctx, kind, ctx.namespace);
        if (why) denied.push(why);
      }
      return denied.length === 0 ? undefined : { error: bullets("not allowed to create:", denied) };
    },
  };
}

function kindsOfInstall(ctx: CheckContext, namespaced: boolean): string[] {
  const kinds = new Set(
    [...installedObjects(ctx.namespace), ...installedCrds()]
      .map((o) => o.kind)
      .filter((k) => RESOURCES[k]?.namespaced === namespaced),
  );
  return [...kinds];
}

export const preKubernetesSetup: Category = {
  name: "pre-kubernetes-setup",
  checks: [
    {
      description: "control plane namespace does not already exist",
      hint: "Trellis is installed already: run `meshctl check` instead, or remove it first with `meshctl uninstall | kubectl delete -f -`",
      async run(ctx) {
        const ns = await getObject(ctx, objectPath("Namespace", undefined, ctx.namespace));
        return ns === undefined ? undefined : { error: `the namespace ${ctx.namespace} exists already` };
      },
    },
    {
      description: "no earlier Trellis install is in the way",
      hint: "an install of Trellis (the control plane named in parentheses) owns these: check it with `meshctl check --namespace <ns>`, or remove it with `meshctl uninstall --namespace <ns> | kubectl delete -f -`",
      async run(ctx) {
        const selector = `labelSelector=${encodeURIComponent(LABEL_CONTROL_PLANE_NS)}`;
        const found: string[] = [];
        for (const kind of ["ClusterRole", "ClusterRoleBinding"]) {
          const items = await listItems<{ metadata?: { name?: string; labels?: Record<string, string> } }>(
            ctx,
            `${objectPath(kind, undefined)}?${selector}`,
          );
          for (const o of items)
            found.push(
              `${kind}/${o.metadata?.name} (control plane ${o.metadata?.labels?.[LABEL_CONTROL_PLANE_NS]})`,
            );
        }
        return found.length === 0
          ? undefined
          : { error: bullets("objects of an earlier install exist:", found) };
      },
    },
    canCreateCheck("can create non-namespaced resources", (ctx) => kindsOfInstall(ctx, false)),
    canCreateCheck("can create the control plane's namespaced resources", (ctx) => kindsOfInstall(ctx, true)),
  ],
};
