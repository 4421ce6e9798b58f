/**
 * The parts of the install written as YAML in manifests/, which stay their one source: the CRDs
 * (manifests/crds/), the namespace and the least-privilege RBAC (manifests/namespace.yaml,
 * manifests/rbac.yaml). They are written for the namespace `trellis`; reading them for another
 * namespace moves every namespaced object and subject there and renames the cluster-scoped objects
 * named `trellis-trellis-<component>` to `trellis-<namespace>-<component>`, their convention.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as a plain value. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The namespace the YAML in manifests/ is written for. */
export const SOURCE_NAMESPACE = "trellis";

/**
 * manifests/ of this checkout or image: beside `cli/` in the sources, beside `dist/` once built, so
 * the nearest ancestor that holds `manifests/crds`.
 */
export function manifestsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "manifests");
    if (existsSync(join(candidate, "crds"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("manifests/ not found above the meshctl installation");
    dir = parent;
  }
}

/** Every object of a YAML file, in order; throws naming the file when one is not an object. */
export function readObjects(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, "utf8")).flatMap((doc, i) => {
    if (doc.errors[0]) throw new Error(`${path} (document ${i + 1}): ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 1000 }) as K8sObject | null;
    if (value === null) return [];
    if (typeof value.kind !== "string" || typeof value.metadata?.name !== "string")
      throw new Error(`${path} (document ${i + 1}): not a Kubernetes object`);
    return [value];
  });
}

/** The CRDs, one file each, in file-name order. */
export function crdObjects(dir = manifestsDir()): K8sObject[] {
  const crds = join(dir, "crds");
  return readdirSync(crds)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => readObjects(join(crds, f)));
}

/** The Namespace, ServiceAccounts, ClusterRoles and bindings, for `namespace`. */
export function controlPlaneObjects(namespace: string, dir = manifestsDir()): K8sObject[] {
  return ["namespace.yaml", "rbac.yaml"].flatMap((f) =>
    readObjects(join(dir, f)).map((o) => inNamespace(o, namespace)),
  );
}

const CLUSTER_PREFIX = `trellis-${SOURCE_NAMESPACE}-`;

/** The object as written for `namespace` instead of {@link SOURCE_NAMESPACE}. */
export function inNamespace(object: K8sObject, namespace: string): K8sObject {
  const o = structuredClone(object);
  const rename = (name: string) =>
    name.startsWith(CLUSTER_PREFIX) ? `trellis-${namespace}-${name.slice(CLUSTER_PREFIX.length)}` : name;
  if (o.kind === "Namespace") o.metadata.name = namespace;
  else o.metadata.name = rename(o.metadata.name);
  if (o.metadata.namespace !== undefined) o.metadata.namespace = namespace;
  const roleRef = o.roleRef as { name: string } | undefined;
  if (roleRef) roleRef.name = rename(roleRef.name);
  for (const s of (o.subjects as { namespace?: string }[] | undefined) ?? [])
    if (s.namespace !== undefined) s.namespace = namespace;
  return o;
}
