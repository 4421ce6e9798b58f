// The webhook's decision as a pure function: what a garbage review is told, who decides (the pod's
// annotation over its namespace's), the namespaces never injected, the pods let through unchanged and
// the ones denied; the patch, applied as the API server applies it, gives exactly what
// `meshctl inject --manual` gives; the AdmissionReview answered and the Event written.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AdmissionRequest,
  admissionEvent,
  admit,
  deploymentOf,
  eventTarget,
  type InjectorConfig,
  inject,
  type NamespaceLookup,
  parseReview,
  reviewResponse,
} from "../../../control/injector/index.js";
import { PROXY_ENV } from "../../../lib/proxy-env.js";
import { defaultInjectorConfig } from "../../support/install.js";
import { applyPatch } from "../../support/json-patch.js";

// biome-ignore lint/suspicious/noExplicitAny: test objects are walked freely
type O = Record<string, any>;

const CONFIG: InjectorConfig = defaultInjectorConfig();
const CP = "trellis";

function pod(annotations?: O, spec: O = {}): O {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { generateName: "web-7c9d8-", ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: "app", image: "web:1", ports: [{ containerPort: 8080 }] }], ...spec },
  };
}

function review(object: O, namespace = "shop", extra: O = {}): O {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace,
      operation: "CREATE",
      object,
      ...extra,
    },
  };
}

function request(body: O): AdmissionRequest {
  const parsed = parseReview(body);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
  return parsed.request;
}

const ns = (annotations: Record<string, string> = {}): NamespaceLookup => ({ ok: true, annotations });
const ENABLED = { "trellis.dev/inject": "enabled" };
const DISABLED = { "trellis.dev/inject": "disabled" };

function decide(
  object: O,
  namespace: NamespaceLookup = ns(),
  where = "shop",
  config: InjectorConfig | null = CONFIG,
) {
  return admit({
    request: request(review(object, where)),
    namespace,
    config: config ?? undefined,
    controlPlaneNamespace: CP,
  });
}

test("garbage is told what is wrong with it, naming the field", () => {
  const cases: [unknown, RegExp][] = [
    ["just a string", /not a JSON object/],
    [[1, 2], /not a JSON object/],
    [null, /not a JSON object/],
    [{ apiVersion: "admission.k8s.io/v1", kind: "Pod" }, /kind is "Pod", not "AdmissionReview"/],
    [
      { ...review(pod()), apiVersion: "admission.k8s.io/v1beta1" },
      /apiVersion is "admission.k8s.io\/v1beta1"; this webhook speaks admission.k8s.io\/v1 only/,
    ],
    [{ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, /has no request/],
    [{ ...review(pod()), request: { ...review(pod()).request, uid: "" } }, /request.uid is missing/],
    [{ ...review(pod()), request: { ...review(pod()).request, kind: undefined } }, /request.kind is missing/],
    [
      { ...review(pod()), request: { ...review(pod()).request, operation: 7 } },
      /request.operation is missing/,
    ],
    [
      { ...review(pod()), request: { ...review(pod()).request, object: undefined } },
      /request.object is missing/,
    ],
  ];
  for (const [body, reason] of cases) {
    const parsed = parseReview(body);
    assert.equal(parsed.ok, false, JSON.stringify(body));
    assert.match(parsed.ok ? "" : parsed.reason, reason);
  }
});

test("a pod annotated enabled is injected, and the patch gives exactly what meshctl inject --manual gives", () => {
  const p = pod(ENABLED);
  const a = decide(p);
  assert.equal(a.verdict, "injected");
  assert.match(a.reason, /trellis-proxy injected, as its annotation "trellis.dev\/inject: enabled" asks/);
  const manual = inject(p, CONFIG, { manual: true, controlPlaneNamespace: CP, namespace: "shop" })
    .object as O;
  const patched = applyPatch(p, a.patch) as O;
  assert.deepEqual(patched, manual);
  // The native sidecar after trellis-init; the app untouched.
  assert.deepEqual(
    patched.spec.initContainers.map((c: O) => [c.name, c.restartPolicy]),
    [
      ["trellis-init", undefined],
      ["trellis-proxy", "Always"],
    ],
  );
  assert.deepEqual(patched.spec.containers, p.spec.containers);
  assert.equal(patched.metadata.annotations["trellis.dev/proxy-version"], CONFIG.version);
});

test("the namespace's annotation decides when the pod has none; the pod's wins either way", () => {
  assert.equal(decide(pod(), ns(ENABLED)).verdict, "injected");
  assert.match(
    decide(pod(), ns(ENABLED)).reason,
    /as namespace "shop" \(annotated "trellis.dev\/inject: enabled"\) asks/,
  );
  const optOut = decide(pod(DISABLED), ns(ENABLED));
  assert.equal(optOut.verdict, "skipped");
  assert.match(optOut.reason, /the pod is annotated "trellis.dev\/inject: disabled"/);
  assert.equal(decide(pod(ENABLED), ns(DISABLED)).verdict, "injected");
  const neither = decide(pod(), ns());
  assert.equal(neither.verdict, "skipped");
  assert.match(
    neither.reason,
    /neither the pod nor namespace "shop" is annotated "trellis.dev\/inject: enabled"/,
  );
  assert.match(
    decide(pod(), ns(DISABLED)).reason,
    /namespace "shop" is annotated "trellis.dev\/inject: disabled", not enabled/,
  );
  for (const skipped of [optOut, neither]) assert.deepEqual(skipped.patch, []);
});

test("kube-system and the control plane's namespace are never injected, whatever the pod says", () => {
  for (const where of ["kube-system", CP]) {
    const a = decide(pod(ENABLED), ns(ENABLED), where);
    assert.equal(a.verdict, "skipped", where);
    assert.match(a.reason, /is never injected/);
    assert.deepEqual(a.patch, []);
  }
});

test("pods that cannot be meshed, or already are, are let through unchanged with the reason", () => {
  const cases: [O, RegExp][] = [
    [pod(ENABLED, { hostNetwork: true }), /asks for injection, but hostNetwork is enabled/],
    [
      pod(ENABLED, { containers: [{ name: "app" }, { name: "istio-proxy" }] }),
      /already carries Istio's sidecar "istio-proxy"/,
    ],
    [
      inject(pod(ENABLED), CONFIG, { manual: true, controlPlaneNamespace: CP }).object as O,
      /already runs trellis-proxy/,
    ],
    [{ ...pod(ENABLED), spec: undefined }, /has no spec/],
  ];
  for (const [p, reason] of cases) {
    const a = decide(p);
    assert.equal(a.verdict, "skipped");
    assert.match(a.reason, reason);
    assert.deepEqual(a.patch, []);
  }
});

test("a pod asked to be meshed with a bad annotation is denied (400), and so is one the injector cannot judge yet (503)", () => {
  const bad = decide(pod({ ...ENABLED, "trellis.dev/proxy-cpu-request": "lots" }));
  assert.equal(bad.verdict, "denied");
  assert.equal(bad.code, 400);
  assert.match(bad.reason, /proxy-cpu-request: "lots" is not a Kubernetes quantity/);
  const value = decide(pod({ "trellis.dev/inject": "true" }));
  assert.equal(value.code, 400);
  assert.match(value.reason, /trellis.dev\/inject: "true" is neither "enabled" nor "disabled"/);
  const noConfig = decide(pod(ENABLED), ns(), "shop", null);
  assert.equal(noConfig.code, 503);
  assert.match(noConfig.reason, /has not loaded the installed config yet/);
  const noNamespace = decide(pod(), { ok: false, reason: "HTTP 403: forbidden" });
  assert.equal(noNamespace.code, 503);
  assert.match(noNamespace.reason, /cannot read namespace "shop" .*HTTP 403: forbidden/);
  // The pod's own annotation needs no namespace.
  assert.equal(decide(pod(ENABLED), { ok: false, reason: "down" }).verdict, "injected");
});

test("only Pods being created are judged; anything else passes with no Event", () => {
  const update = admit({
    request: request(review(pod(ENABLED), "shop", { operation: "UPDATE" })),
    namespace: ns(),
    config: CONFIG,
    controlPlaneNamespace: CP,
  });
  assert.equal(update.verdict, "skipped");
  assert.equal(update.pod, false);
  const deployment = admit({
    request: request(
      review({ kind: "Deployment" }, "shop", { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
    ),
    namespace: ns(),
    config: CONFIG,
    controlPlaneNamespace: CP,
  });
  assert.equal(deployment.verdict, "skipped");
  assert.match(deployment.reason, /only Pods are injected/);
});

test("a ReplicaSet's pod gets its Deployment's name for the proxy's metrics; warnings reach the user", () => {
  const p = pod(ENABLED, { containers: [{ name: "app", ports: [{ containerPort: 53, protocol: "UDP" }] }] });
  p.metadata.labels = { "pod-template-hash": "7c9d8" };
  p.metadata.ownerReferences = [
    { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7c9d8", uid: "u", controller: true },
  ];
  assert.equal(deploymentOf(p), "web");
  const a = decide(p);
  const proxy = (applyPatch(p, a.patch) as O).spec.initContainers.find((c: O) => c.name === "trellis-proxy");
  assert.equal(proxy.env.find((e: O) => e.name === PROXY_ENV.DEPLOYMENT)?.value, "web");
  assert.match(a.warnings.join("\n"), /uses "protocol: UDP"/);
  assert.deepEqual(reviewResponse("u1", a).response.warnings, a.warnings);
  // A ReplicaSet not named after its hash (made by hand) names no Deployment.
  p.metadata.ownerReferences[0].name = "handmade";
  assert.equal(deploymentOf(p), undefined);
});

test("the AdmissionReview answered: the uid, allowed with a base64 JSONPatch, allowed alone, or denied with code and message", () => {
  const injected = decide(pod(ENABLED));
  const r = reviewResponse("abc", injected);
  assert.equal(r.apiVersion, "admission.k8s.io/v1");
  assert.equal(r.kind, "AdmissionReview");
  assert.equal(r.response.uid, "abc");
  assert.equal(r.response.allowed, true);
  assert.equal(r.response.patchType, "JSONPatch");
  assert.deepEqual(JSON.parse(Buffer.from(r.response.patch ?? "", "base64").toString()), injected.patch);
  const skipped = reviewResponse("abc", decide(pod()));
  assert.deepEqual(skipped.response, { uid: "abc", allowed: true });
  const denied = reviewResponse("abc", decide(pod({ "trellis.dev/inject": "yes" })));
  assert.equal(denied.response.allowed, false);
  assert.equal(denied.response.status?.code, 400);
  assert.match(denied.response.status?.message ?? "", /^trellis: annotation trellis.dev\/inject: "yes"/);
  assert.equal(denied.response.patch, undefined);
});

test("the Event goes on the pod's controller, else the pod; it says what happened and why", () => {
  const owned = pod(ENABLED);
  owned.metadata.ownerReferences = [
    { apiVersion: "v1", kind: "ConfigMap", name: "not-the-controller", uid: "x" },
    { apiVersion: "batch/v1", kind: "Job", name: "nightly", uid: "j1", controller: true },
  ];
  assert.deepEqual(eventTarget(owned, "shop"), {
    apiVersion: "batch/v1",
    kind: "Job",
    name: "nightly",
    namespace: "shop",
    uid: "j1",
  });
  const named = { ...pod(), metadata: { name: "solo" } };
  assert.deepEqual(eventTarget(named, "shop"), {
    apiVersion: "v1",
    kind: "Pod",
    name: "solo",
    namespace: "shop",
  });
  assert.equal(eventTarget(pod(), "shop"), undefined, "no owner and no name yet: nothing to hang it on");

  const target = eventTarget(owned, "shop");
  assert.ok(target);
  const now = new Date("2026-05-01T10:00:00.123Z");
  const injected = admissionEvent(target, owned, decide(owned), "trellis-injector-abc", now);
  assert.equal(injected.reason, "Injected");
  assert.equal(injected.type, "Normal");
  assert.equal(
    injected.message,
    'pod web-7c9d8-…: trellis-proxy injected, as its annotation "trellis.dev/inject: enabled" asks',
  );
  assert.deepEqual(injected.metadata, { generateName: "nightly.", namespace: "shop" });
  assert.equal(injected.firstTimestamp, "2026-05-01T10:00:00Z");
  assert.equal(injected.reportingInstance, "trellis-injector-abc");
  const skipped = admissionEvent(target, pod(), decide(pod()), "i", now);
  assert.equal(skipped.reason, "InjectionSkipped");
  assert.match(String(skipped.message), /not injected: neither the pod nor namespace/);
  const denied = admissionEvent(target, pod(), decide(pod({ "trellis.dev/inject": "on" })), "i", now);
  assert.equal(denied.reason, "InjectionDenied");
  assert.equal(denied.type, "Warning");
});
