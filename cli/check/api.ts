/**
 * Reads for checks over the context's API client: an object or a list by path, each failure thrown as
 * an Error whose message is the API server's reason, so the runner prints it as the check's error. And
 * the install's own objects, rendered with the defaults for the namespace checked, which name everything
 * install makes: checks never copy those names.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  crdObjects,
  FLAG_DEFAULTS,
  type InstallFlags,
  installObjects,
  type K8sObject,
  resolveValues,
} from "../install/index.js";
import type { CheckContext } from "./types.js";

/** The object at `path`, or undefined when there is none (404). */
export async function getObject<T>(ctx: CheckContext, path: string): Promise<T | undefined> {
  const r = await ctx.api.get<T>(path);
  if (!r.ok) throw new Error(`GET ${path}: ${r.reason}`);
  return r.body;
}

/** The items of the list at `path`; an absent list (404) is empty. */
export async function listItems<T>(ctx: CheckContext, path: string): Promise<T[]> {
  return (await getObject<{ items?: T[] }>(ctx, path))?.items ?? [];
}

/** The objects `meshctl install` makes for this namespace (no certificates: the names suffice). */
export function installedObjects(namespace: string): K8sObject[] {
  const flags: InstallFlags = {
    ...FLAG_DEFAULTS,
    namespace,
    crds: false,
    ha: false,
    identityExternalIssuer: false,
    output: "yaml",
  };
  return installObjects(
    resolveValues(flags),
    { trustAnchorsPem: "", issuer: { certPem: "", keyPem: "" } },
    { caPem: "", certPem: "", keyPem: "" },
  );
}

/** The CRDs `meshctl install --crds` makes. */
export function installedCrds(): K8sObject[] {
  return crdObjects();
}

/** Where a kind of object lives in the API: group, version, plural, whether namespaced. */
export interface Resource {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

/** Every kind install renders, by its kind. */
export const RESOURCES: Record<string, Resource> = {
  Namespace: { group: "", version: "v1", resource: "namespaces", namespaced: false },
  ServiceAccount: { group: "", version: "v1", resource: "serviceaccounts", namespaced: true },
  ConfigMap: { group: "", version: "v1", resource: "configmaps", namespaced: true },
  Secret: { group: "", version: "v1", resource: "secrets", namespaced: true },
  Service: { group: "", version: "v1", resource: "services", namespaced: true },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    resource: "clusterroles",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    resource: "clusterrolebindings",
    namespaced: false,
  },
  Role: { group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", namespaced: true },
  RoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    resource: "rolebindings",
    namespaced: true,
  },
  Deployment: { group: "apps", version: "v1", resource: "deployments", namespaced: true },
  PodDisruptionBudget: { group: "policy", version: "v1", resource: "poddisruptionbudgets", namespaced: true },
  MutatingWebhookConfiguration: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    resource: "mutatingwebhookconfigurations",
    namespaced: false,
  },
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    resource: "customresourcedefinitions",
    namespaced: false,
  },
};

/** The API path of an object, or of its kind's collection when `name` is undefined. */
export function objectPath(kind: string, namespace: string | undefined, name?: string): string {
  const r = RESOURCES[kind];
  if (!r) throw new Error(`no API path known for kind ${kind}`);
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${namespace}` : "";
  return `${base}${ns}/${r.resource}${name !== undefined ? `/${name}` : ""}`;
}

/** `ns/name`, as error lists name pods. */
export function podName(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

/** A pod of a Job that finished: nothing to wait for. */
export function isFinishedJobPod(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return (
    (phase === "Succeeded" || phase === "Failed") &&
    (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === "Job")
  );
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The bulleted list Linkerd's errors end with. */
export function bullets(header: string, items: readonly string[]): string {
  return [header, ...items.map((i) => `  * ${i}`)].join("\n");
}
