/**
 * The webhook's decision, pure: an AdmissionReview v1 (parsed JSON), what the pod's namespace says and
 * the installed config in; whether the pod is injected, skipped or denied, why, and the JSONPatch out.
 * The patch is `jsonPatch(pod, inject(pod))` with inject() in `--manual` mode: the very function
 * `meshctl inject --manual` runs, so a pod injected by the webhook equals one injected by the CLI.
 *
 * Who decides: the pod's `trellis.dev/inject` annotation, else its namespace's; `enabled` injects,
 * anything else skips. kube-system and the control plane's namespace are never injected (the webhook
 * configuration does not even send them; this is the second lock). Pods that cannot be meshed (host
 * network, another mesh's sidecar) and pods that already run a proxy are let through unchanged; a pod
 * asked to be meshed with a bad annotation is denied, so it never runs unmeshed by mistake.
 */
import { PROXY_CONTAINER } from "../../lib/proxy-env.js";
import { ANNOTATIONS, type InjectorConfig } from "./config.js";
import { inject } from "./inject.js";
import { jsonPatch, type PatchOperation } from "./patch.js";
import {
  allContainers,
  child,
  isObj,
  type Obj,
  PROTECTED_NAMESPACES,
  podTemplate,
  refusal,
} from "./workloads.js";

export const ADMISSION_REVIEW_API_VERSION = "admission.k8s.io/v1";

/** What the webhook reads of an AdmissionReview's request. */
export interface AdmissionRequest {
  uid: string;
  operation: string;
  kind: { group: string; version: string; kind: string };
  /** The request's namespace (a Pod's own metadata may not carry it yet). */
  namespace: string;
  /** The object being admitted; a Pod made by a controller has only `generateName` so far. */
  object: Obj;
  /** A server-side dry run: nothing is stored, so no Event is written about it. */
  dryRun: boolean;
}

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; reason: string };

/** Checks that `body` is an AdmissionReview v1 request with an object; the reason names what is wrong. */
export function parseReview(body: unknown): ParsedReview {
  const bad = (reason: string): ParsedReview => ({ ok: false, reason });
  if (!isObj(body)) return bad("the body is not a JSON object (an AdmissionReview)");
  if (body.kind !== "AdmissionReview")
    return bad(`kind is ${JSON.stringify(body.kind ?? null)}, not "AdmissionReview"`);
  if (body.apiVersion !== ADMISSION_REVIEW_API_VERSION)
    return bad(
      `apiVersion is ${JSON.stringify(body.apiVersion ?? null)}; this webhook speaks ${ADMISSION_REVIEW_API_VERSION} only (admissionReviewVersions: [v1])`,
    );
  const request = child(body, "request");
  if (!request) return bad("the AdmissionReview has no request");
  if (typeof request.uid !== "string" || request.uid === "") return bad("request.uid is missing");
  const kind = child(request, "kind");
  if (!kind || typeof kind.kind !== "string") return bad("request.kind is missing");
  if (typeof request.operation !== "string") return bad("request.operation is missing");
  const object = child(request, "object");
  if (!object) return bad("request.object is missing: there is no object to inject");
  const namespace =
    typeof request.namespace === "string" ? request.namespace : child(object, "metadata")?.namespace;
  return {
    ok: true,
    request: {
      uid: request.uid,
      operation: request.operation,
      kind: { group: String(kind.group ?? ""), version: String(kind.version ?? ""), kind: kind.kind },
      namespace: typeof namespace === "string" ? namespace : "",
      object,
      dryRun: request.dryRun === true,
    },
  };
}

/** The namespace's annotations, or why they could not be read. */
export type NamespaceLookup =
  | { ok: true; annotations: Record<string, string> }
  | { ok: false; reason: string };

export type Verdict = "injected" | "skipped" | "denied";

/** The webhook's answer about one request. */
export interface Admission {
  verdict: Verdict;
  /** Why, as a sentence of its own: the Event's message, the log line, a denial's message. */
  reason: string;
  /** Empty unless injected (and then empty only when the pod was already as injection makes it). */
  patch: PatchOperation[];
  /** Shown to the user who created the pod (`kubectl` prints them), as `meshctl inject` reports them. */
  warnings: string[];
  /** The status code of a denial: 400 for the pod's own fault, 503 while the injector cannot decide. */
  code?: number;
  /** The request creates a Pod, so an Event about it makes sense. */
  pod: boolean;
}

export interface AdmitInputs {
  request: AdmissionRequest;
  namespace: NamespaceLookup;
  /** The installed config; undefined until it has loaded. */
  config: InjectorConfig | undefined;
  controlPlaneNamespace: string;
}

function skipped(reason: string, pod = true): Admission {
  return { verdict: "skipped", reason, patch: [], warnings: [], pod };
}

function denied(reason: string, code: number, warnings: string[] = []): Admission {
  return { verdict: "denied", reason, patch: [], warnings, code, pod: true };
}

/** Decides about one request. Never throws for any request parseReview accepted. */
export function admit(inputs: AdmitInputs): Admission {
  const { request, controlPlaneNamespace } = inputs;
  const k = request.kind;
  if (request.operation !== "CREATE" || k.group !== "" || k.version !== "v1" || k.kind !== "Pod")
    return skipped(
      `only Pods are injected, when created; this is ${request.operation} of ${k.kind || "an object"}`,
      false,
    );
  const pod = request.object;
  const ns = request.namespace;
  if ((PROTECTED_NAMESPACES as readonly string[]).includes(ns))
    return skipped(`namespace "${ns}" runs Kubernetes' own components and is never injected`);
  if (ns === controlPlaneNamespace)
    return skipped(`namespace "${ns}" is the Trellis control plane's and is never injected`);

  const asked = injectionAsked(pod, inputs.namespace, ns);
  if (asked.verdict) return asked.verdict;

  const t = podTemplate(pod);
  if (!t) return skipped("the Pod has no spec");
  const cannot = refusal(t.spec);
  if (cannot) return skipped(`${asked.by} asks for injection, but ${cannot}`);
  if (allContainers(t.spec).some((c) => c.name === PROXY_CONTAINER))
    return skipped(`it already runs ${PROXY_CONTAINER} (injected by \`meshctl inject --manual\`)`);
  if (!inputs.config)
    return denied(
      "the injector has not loaded the installed config yet (ConfigMaps trellis-config and trellis-identity-trust-roots); retry shortly",
      503,
    );

  const deployment = deploymentOf(pod);
  const result = inject(pod, inputs.config, {
    manual: true,
    // The namespace rules ran above, with the webhook's wording.
    force: true,
    controlPlaneNamespace,
    namespace: ns,
    ...(deployment !== undefined ? { deployment } : {}),
  });
  const report = result.reports[0];
  const warnings = report?.warnings ?? [];
  if (report?.status === "refused")
    return denied(`${asked.by} asks for injection, but ${report.reason}`, 400, warnings);
  if (report?.status !== "injected")
    return { ...skipped(report?.reason ?? "the injector had nothing to do"), warnings };
  return {
    verdict: "injected",
    reason: `${PROXY_CONTAINER} injected, as ${asked.by} asks`,
    patch: jsonPatch(pod, result.object),
    warnings,
    pod: true,
  };
}

/** Whether injection is asked for and by whom (the pod's annotation wins), or the verdict when it is not. */
function injectionAsked(
  pod: Obj,
  namespace: NamespaceLookup,
  ns: string,
): { by: string; verdict?: undefined } | { verdict: Admission } {
  const key = ANNOTATIONS.INJECT;
  const own = child(child(pod, "metadata") ?? {}, "annotations")?.[key];
  if (own !== undefined) {
    if (own === "enabled") return { by: `its annotation "${key}: enabled"` };
    if (own === "disabled") return { verdict: skipped(`the pod is annotated "${key}: disabled"`) };
    return {
      verdict: denied(
        `annotation ${key}: ${JSON.stringify(own)} is neither "enabled" nor "disabled"; fix it on the pod template`,
        400,
      ),
    };
  }
  if (!namespace.ok)
    return {
      verdict: denied(
        `cannot read namespace "${ns}" to see whether it asks for injection: ${namespace.reason}`,
        503,
      ),
    };
  const inherited = namespace.annotations[key];
  if (inherited === "enabled") return { by: `namespace "${ns}" (annotated "${key}: enabled")` };
  if (inherited === undefined)
    return { verdict: skipped(`neither the pod nor namespace "${ns}" is annotated "${key}: enabled"`) };
  return { verdict: skipped(`namespace "${ns}" is annotated "${key}: ${inherited}", not enabled`) };
}

/** The Deployment of a Pod made by its ReplicaSet: the ReplicaSet's name without `-<pod-template-hash>`. */
export function deploymentOf(pod: Obj): string | undefined {
  const metadata = child(pod, "metadata") ?? {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences.filter(isObj) : [];
  const rs = owners.find((o) => o.controller === true && o.kind === "ReplicaSet");
  const hash = child(metadata, "labels")?.["pod-template-hash"];
  if (!rs || typeof rs.name !== "string" || typeof hash !== "string" || hash === "") return undefined;
  return rs.name.endsWith(`-${hash}`) ? rs.name.slice(0, -(hash.length + 1)) : undefined;
}

/** The AdmissionReview the API server reads back. */
export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_REVIEW_API_VERSION;
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: boolean;
    patchType?: "JSONPatch";
    /** Base64 of the JSON array of operations. */
    patch?: string;
    status?: { code: number; message: string };
    warnings?: string[];
  };
}

/** The review to answer with: allowed (with the patch when there is one), or denied with its message. */
export function reviewResponse(uid: string, admission: Admission): AdmissionReviewResponse {
  const warnings = admission.warnings.length > 0 ? { warnings: admission.warnings } : {};
  if (admission.verdict === "denied")
    return {
      apiVersion: ADMISSION_REVIEW_API_VERSION,
      kind: "AdmissionReview",
      response: {
        uid,
        allowed: false,
        status: { code: admission.code ?? 400, message: `trellis: ${admission.reason}` },
        ...warnings,
      },
    };
  const patch =
    admission.patch.length > 0
      ? {
          patchType: "JSONPatch" as const,
          patch: Buffer.from(JSON.stringify(admission.patch)).toString("base64"),
        }
      : {};
  return {
    apiVersion: ADMISSION_REVIEW_API_VERSION,
    kind: "AdmissionReview",
    response: { uid, allowed: true, ...patch, ...warnings },
  };
}
