/**
 * The Event that says what the webhook did to a pod, on the object a user looks at: the pod's
 * controller (its ReplicaSet, Job, StatefulSet, ... from `ownerReferences`), or the pod itself when it
 * has none. At admission a pod has no uid yet (and a controller's pod no name), which is why the owner
 * is the better target. Pure: the server posts what this builds.
 */
import type { Admission } from "./admission.js";
import { child, isObj, type Obj } from "./workloads.js";

/** `source.component` and `reportingComponent` of every Event the injector writes. */
export const EVENT_COMPONENT = "trellis-injector";

/** The object an Event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** The pod's controller, else its first owner, else the pod when it has a name; undefined otherwise. */
export function eventTarget(pod: Obj, namespace: string): EventTarget | undefined {
  const metadata = child(pod, "metadata") ?? {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences.filter(isObj) : [];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (owner && typeof owner.kind === "string" && typeof owner.name === "string")
    return {
      apiVersion: String(owner.apiVersion ?? ""),
      kind: owner.kind,
      name: owner.name,
      namespace,
      ...(typeof owner.uid === "string" ? { uid: owner.uid } : {}),
    };
  if (typeof metadata.name === "string" && metadata.name !== "")
    return { apiVersion: "v1", kind: "Pod", name: metadata.name, namespace };
  return undefined;
}

const REASONS = { injected: "Injected", skipped: "InjectionSkipped", denied: "InjectionDenied" } as const;

/** A core/v1 Event about `target`; `instance` names the injector pod that decided. */
export function admissionEvent(
  target: EventTarget,
  pod: Obj,
  admission: Admission,
  instance: string,
  now: Date,
): Obj {
  const metadata = child(pod, "metadata") ?? {};
  const name = typeof metadata.name === "string" && metadata.name ? metadata.name : undefined;
  const generated = typeof metadata.generateName === "string" ? `${metadata.generateName}…` : "";
  const who = target.kind === "Pod" ? "" : `pod ${name ?? generated}: `.replace("pod : ", "");
  const what = { injected: "", skipped: "not injected: ", denied: "denied: " }[admission.verdict];
  const time = now.toISOString().replace(/\.\d+Z$/, "Z");
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${target.name}.`, namespace: target.namespace },
    involvedObject: target,
    reason: REASONS[admission.verdict],
    message: `${who}${what}${admission.reason}`.slice(0, 1024),
    type: admission.verdict === "denied" ? "Warning" : "Normal",
    source: { component: EVENT_COMPONENT },
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: instance,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}
