/**
 * Puts the install together: the objects in the order they can be applied (namespace, then RBAC, then
 * configuration, Services, Deployments, PodDisruptionBudgets, and last the webhook configuration, so
 * the API server calls the injector only once its Deployment exists), each labelled with its control-plane
 * namespace and the Trellis version, printed as a YAML stream or one JSON List. Nothing here reads the
 * clock or a random source: the same values and PKI give the same bytes.
 */
import { stringify } from "yaml";
import type { IdentityPki } from "./certificates.js";
import { configObjects } from "./config.js";
import { controllerObjects } from "./controllers.js";
import { commonLabels } from "./fragments.js";
import { controlPlaneObjects, crdObjects, type K8sObject } from "./manifests.js";
import type { InstallValues } from "./values.js";
import { webhookObjects } from "./webhook.js";
import type { InjectorTls } from "./webhook-certificates.js";

/** Kinds in the order they are applied; an object of any other kind is a bug in the renderer. */
export const KIND_ORDER = [
  "Namespace",
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "Deployment",
  "PodDisruptionBudget",
  "MutatingWebhookConfiguration",
] as const;

export type OutputFormat = "yaml" | "json";

/** Everything but the CRDs, in apply order, labelled. */
export function installObjects(
  values: InstallValues,
  pki: IdentityPki,
  injectorTls: InjectorTls,
): K8sObject[] {
  const objects = [
    ...controlPlaneObjects(values.namespace),
    ...(configObjects(values, pki) as K8sObject[]),
    ...(controllerObjects(values) as K8sObject[]),
    ...(webhookObjects(values, injectorTls) as K8sObject[]),
  ];
  return inApplyOrder(objects, commonLabels(values));
}

/** Any set of objects (an install, an extension's) in apply order, each with `labels` added. */
export function inApplyOrder(objects: K8sObject[], labels: Record<string, string>): K8sObject[] {
  return sortByKind(objects).map((o) => labelled(o, labels));
}

/** The CRDs of manifests/crds/, labelled. */
export function crdInstallObjects(values: InstallValues): K8sObject[] {
  return crdObjects().map((o) => labelled(o, commonLabels(values)));
}

/**
 * What `kubectl delete -f -` needs to remove an install: each object's kind and name only (no Secret
 * data), in the reverse of the apply order so the namespace goes last, after what it holds.
 */
export function uninstallObjects(objects: readonly K8sObject[]): K8sObject[] {
  return [...objects].reverse().map((o) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
    },
  }));
}

/** A YAML stream (`---` before each document) or one JSON `v1 List`, ending in a newline. */
export function serialize(objects: readonly K8sObject[], format: OutputFormat): string {
  if (format === "json")
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
  // lineWidth 0: never fold, so base64 and PEM lines stay whole.
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join("");
}

function sortByKind(objects: K8sObject[]): K8sObject[] {
  const rank = (o: K8sObject) => {
    const i = (KIND_ORDER as readonly string[]).indexOf(o.kind);
    if (i < 0) throw new Error(`no place in the install order for kind ${o.kind}`);
    return i;
  };
  // Array.prototype.sort is stable: objects of one kind keep the order they were made in.
  return objects.sort((a, b) => rank(a) - rank(b));
}

function labelled(object: K8sObject, labels: Record<string, string>): K8sObject {
  return { ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...labels } } };
}
