/**
 * Where a Kubernetes object keeps its pod: the kinds injection changes, the kinds it only annotates,
 * and the checks that refuse a pod (host networking, another mesh's containers, a protected namespace).
 * Objects are plain JSON as read from YAML: nothing here assumes more of them than their kind says.
 */
export type Obj = Record<string, unknown>;

/** Kinds whose pod template is injected. */
export const POD_TEMPLATE_KINDS = [
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "ReplicationController",
  "Job",
  "CronJob",
  "Pod",
] as const;

/** Namespaces injection leaves alone unless forced: Kubernetes' own, besides the control plane's. */
export const PROTECTED_NAMESPACES = ["kube-system"] as const;

/** Other meshes' containers: a pod joins one mesh only. */
export const FOREIGN_SIDECARS: Record<string, string> = {
  "istio-proxy": "Istio's sidecar",
  "istio-init": "Istio's init container",
  "linkerd-proxy": "Linkerd's sidecar",
  "linkerd-init": "Linkerd's init container",
};

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The child map at `key`, created when `create` and absent. */
export function child(o: Obj, key: string, create = false): Obj | undefined {
  const v = o[key];
  if (isObj(v)) return v;
  if (!create) return undefined;
  const made: Obj = {};
  o[key] = made;
  return made;
}

export function list(o: Obj, key: string): Obj[] {
  const v = o[key];
  return Array.isArray(v) ? v.filter(isObj) : [];
}

/** A pod template inside its object: the pod spec, and the metadata when there is any. */
export interface PodTemplate {
  /** The template (the Pod itself for a Pod): where `metadata` is added when needed. */
  template: Obj;
  spec: Obj;
}

/** The template's annotations, created (with the metadata) when `create` and absent. */
export function annotationsOf(t: PodTemplate, create: boolean): Obj | undefined {
  const metadata = child(t.template, "metadata", create);
  return metadata && child(metadata, "annotations", create);
}

/** The pod template of a workload (the object itself for a Pod); undefined when it has none. */
export function podTemplate(obj: Obj): PodTemplate | undefined {
  const kind = obj.kind;
  let holder: Obj | undefined;
  if (kind === "Pod") holder = obj;
  else if (kind === "CronJob") holder = child(child(child(obj, "spec") ?? {}, "jobTemplate") ?? {}, "spec");
  else holder = child(obj, "spec");
  if (!holder) return undefined;
  const template = kind === "Pod" ? holder : child(holder, "template");
  if (!template) return undefined;
  const spec = child(template, "spec");
  if (!spec) return undefined;
  return { template, spec };
}

/** `deployment/web`: how reports and errors name an object. */
export function describe(obj: Obj): string {
  const kind = typeof obj.kind === "string" ? obj.kind.toLowerCase() : "object";
  const name = child(obj, "metadata")?.name;
  return `${kind}/${typeof name === "string" ? name : "<unnamed>"}`;
}

/** Every container of the pod, init containers first. */
export function allContainers(spec: Obj): Obj[] {
  return [...list(spec, "initContainers"), ...list(spec, "containers")];
}

/** Why the pod cannot join the mesh at all, whatever the flags; undefined when it can. */
export function refusal(spec: Obj): string | undefined {
  if (spec.hostNetwork === true)
    return "hostNetwork is enabled: the pod shares its node's network, so its proxy would intercept the node's traffic; it cannot be meshed";
  for (const c of allContainers(spec)) {
    const what = typeof c.name === "string" ? FOREIGN_SIDECARS[c.name] : undefined;
    if (what)
      return `the pod already carries ${what} "${c.name}": a pod joins one mesh only; remove it first`;
  }
  return undefined;
}

/** Why the namespace is left alone unless forced; undefined when it is not protected. */
export function protectedNamespace(namespace: string | undefined, controlPlane: string): string | undefined {
  if (namespace === undefined) return undefined;
  if ((PROTECTED_NAMESPACES as readonly string[]).includes(namespace))
    return `namespace "${namespace}" runs Kubernetes' own components; pass --force to mesh it anyway`;
  if (namespace === controlPlane)
    return `namespace "${namespace}" is the Trellis control plane's: its services speak TLS themselves and would depend on their own proxies; pass --force to mesh it anyway`;
  return undefined;
}
