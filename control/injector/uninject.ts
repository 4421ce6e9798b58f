/**
 * Taking a pod out of the mesh: removes what injection added (the proxy and init containers, their
 * volumes, the injection annotations) and nothing of the user's. Inject runs it first, so injecting
 * an injected pod gives the same pod.
 */
import { ANNOTATIONS } from "./config.js";
import { INIT_CONTAINER, INJECTED_VOLUMES, PROXY_CONTAINER } from "./proxy.js";
import type { ObjectReport } from "./report.js";
import {
  annotationsOf,
  child,
  describe,
  isObj,
  type Obj,
  POD_TEMPLATE_KINDS,
  type PodTemplate,
  podTemplate,
} from "./workloads.js";

const OURS = new Set<unknown>([PROXY_CONTAINER, INIT_CONTAINER]);

/** Removes injection from a pod template in place; true when there was something to remove. */
export function uninjectTemplate(t: PodTemplate, opts: { keepInjectAnnotation: boolean }): boolean {
  let changed = false;
  const drop = (o: Obj, key: string, keep: (item: Obj) => boolean) => {
    const items = o[key];
    if (!Array.isArray(items)) return;
    const kept = items.filter((i) => !isObj(i) || keep(i));
    if (kept.length === items.length) return;
    changed = true;
    if (kept.length === 0) delete o[key];
    else o[key] = kept;
  };
  drop(t.spec, "initContainers", (c) => !OURS.has(c.name));
  drop(t.spec, "containers", (c) => c.name !== PROXY_CONTAINER);
  drop(t.spec, "volumes", (v) => !(INJECTED_VOLUMES as readonly unknown[]).includes(v.name));
  const annotations = annotationsOf(t, false);
  if (annotations) {
    const keys = [ANNOTATIONS.PROXY_VERSION as string];
    if (!opts.keepInjectAnnotation && annotations[ANNOTATIONS.INJECT] === "enabled")
      keys.push(ANNOTATIONS.INJECT);
    const present = keys.filter((key) => key in annotations);
    for (const key of present) delete annotations[key];
    if (present.length > 0) {
      changed = true;
      // What inject created empty is removed empty: the annotations, then a template's bare metadata.
      const metadata = child(t.template, "metadata") as Obj;
      if (Object.keys(annotations).length === 0) delete metadata.annotations;
      // (A Pod is its own template and keeps its metadata; a nested template has no kind.)
      if (Object.keys(metadata).length === 0 && t.template.kind === undefined) delete t.template.metadata;
    }
  }
  return changed;
}

/** Uninjects one object (a copy), or each item of a List. */
export function uninject(input: unknown): { object: unknown; reports: ObjectReport[] } {
  if (!isObj(input)) return { object: input, reports: [] };
  const obj = structuredClone(input);
  if (obj.kind === "List" && Array.isArray(obj.items)) {
    const reports: ObjectReport[] = [];
    obj.items = obj.items.map((item: unknown) => {
      const r = uninject(item);
      reports.push(...r.reports);
      return r.object;
    });
    return { object: obj, reports };
  }
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  const name = String(child(obj, "metadata")?.name ?? "");
  const base = { object: describe(obj), kind: kind || "document", name, warnings: [] };
  let changed = false;
  if ((POD_TEMPLATE_KINDS as readonly string[]).includes(kind)) {
    const t = podTemplate(obj);
    if (t) changed = uninjectTemplate(t, { keepInjectAnnotation: false });
  } else if (kind === "Namespace") {
    const annotations = child(child(obj, "metadata") ?? {}, "annotations");
    if (annotations && annotations[ANNOTATIONS.INJECT] === "enabled") {
      delete annotations[ANNOTATIONS.INJECT];
      if (Object.keys(annotations).length === 0) delete (child(obj, "metadata") as Obj).annotations;
      changed = true;
    }
  }
  const report: ObjectReport = changed
    ? { ...base, status: "uninjected" }
    : { ...base, status: "skipped", reason: kind ? "not injected" : 'document missing "kind" field' };
  return { object: obj, reports: [report] };
}
