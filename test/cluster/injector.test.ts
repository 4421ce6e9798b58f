/**
 * The injector webhook called by the real API server, on one test bed: `meshctl install` applied with
 * kubectl, the injector's pod comes up Ready, and then Pods are stored as the webhook decided: with the
 * proxy (a native sidecar after trellis-init) in a namespace annotated for injection or when the pod
 * itself asks, without it when the pod opts out or lives in kube-system; an Event says so on the pod's
 * ReplicaSet; a change to trellis-config reaches the next pod without a restart. `meshctl check` passes
 * with the trellis-injector category, fails on the caBundle line with its hint once the caBundle is
 * another CA's, and passes again once install is re-applied. `meshctl uninstall` takes the webhook
 * configuration away first, so pods are created again without it.
 *
 * The pods need not run (trellis-init and native sidecars on the node stand-in come separately): what
 * the API server stored is what is asserted.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AdmissionregistrationV1Api, CoreV1Api, type CoreV1Event, type V1Pod } from "@kubernetes/client-node";
import { PROXY_ENV } from "../../lib/proxy-env.js";
import { type Cluster, createCa, startCluster, TEST_IMAGE_PREFIX, waitForObject } from "./harness/index.js";
import {
  apply,
  assertCheckFailedOn,
  assertCheckPassed,
  controlPlanePodReady,
  installTrellis,
  meshctlOn,
  NAMESPACE,
} from "./mesh.js";

const WAIT = "2m";
const CA_LINE = "injector webhook's caBundle verifies the certificate the injector presents";

let cluster: Cluster;
let core: CoreV1Api;
let install: string;

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  ({ install } = await installTrellis(cluster));
});
after(() => cluster?.stop());

function podBody(name: string, annotations?: Record<string, string>): V1Pod {
  return {
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: {
      containers: [{ name: "app", image: `${TEST_IMAGE_PREFIX}echo`, ports: [{ containerPort: 8080 }] }],
    },
  };
}

const names = (cs: { name: string }[] | undefined) => (cs ?? []).map((c) => c.name);
const injected = (p: V1Pod) => names(p.spec?.initContainers).includes("trellis-proxy");

/** What a dry-run creation came to: the pod the API server would store, or its refusal. */
type Outcome = { pod: V1Pod } | { error: string };

/** Dry-run creations until one comes to what `ok` wants (the API server and the injector caught up); bounded. */
async function dryRunUntil(
  namespace: string,
  body: V1Pod,
  ok: (o: Outcome) => boolean,
  what: string,
): Promise<Outcome> {
  let last: Outcome | undefined;
  for (let i = 0; i < 150; i++) {
    try {
      last = { pod: await core.createNamespacedPod({ namespace, body, dryRun: "All" }) };
    } catch (err) {
      last = { error: String((err as { body?: unknown }).body ?? err) };
    }
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  const seen =
    last && "pod" in last
      ? `init containers ${JSON.stringify(names(last.pod.spec?.initContainers))}`
      : last?.error;
  throw new Error(`${what}: not within 30 s; last: ${seen}`);
}

const injectedOutcome = (o: Outcome) => "pod" in o && injected(o.pod);
const podOf = (o: Outcome) => {
  assert.ok("pod" in o, "error" in o ? o.error : "");
  return o.pod;
};

async function namespaceWith(name: string, annotations: Record<string, string>): Promise<void> {
  await cluster.createNamespace(name);
  await cluster.kubectl([
    "annotate",
    "namespace",
    name,
    ...Object.entries(annotations).map(([k, v]) => `${k}=${v}`),
  ]);
}

test("the injector's pod comes up Ready behind its Service", async () => {
  const pod = await controlPlanePodReady(cluster, "injector");
  assert.equal(pod.spec?.containers[0]?.name, "injector");
  await cluster.node.waitForServiceEndpoints(NAMESPACE, "trellis-injector");
  assert.match(cluster.node.logs(NAMESPACE, pod.metadata?.name ?? "", "injector"), /"ready":true/);
});

test("the API server stores pods as the webhook decides: injected in an annotated namespace or when the pod asks; not when it opts out, nor in kube-system", async () => {
  await namespaceWith("meshed", { "trellis.dev/inject": "enabled" });
  await cluster.createNamespace("plain");
  await dryRunUntil("meshed", podBody("probe"), injectedOutcome, "a dry-run pod in meshed injected");

  const web = await core.createNamespacedPod({ namespace: "meshed", body: podBody("web") });
  const stored = await core.readNamespacedPod({ namespace: "meshed", name: "web" });
  for (const p of [web, stored]) {
    assert.deepEqual(names(p.spec?.initContainers), ["trellis-init", "trellis-proxy"]);
    assert.deepEqual(names(p.spec?.containers), ["app"]);
  }
  const proxy = stored.spec?.initContainers?.[1];
  assert.equal(proxy?.restartPolicy, "Always", "a native sidecar");
  assert.equal(proxy?.startupProbe?.httpGet?.path, "/ready");
  assert.ok(stored.spec?.volumes?.some((v) => v.name === "trellis-identity-token"));
  assert.ok(stored.metadata?.annotations?.["trellis.dev/proxy-version"]);

  const optedOut = await core.createNamespacedPod({
    namespace: "meshed",
    body: podBody("opted-out", { "trellis.dev/inject": "disabled" }),
  });
  assert.deepEqual(names(optedOut.spec?.initContainers), []);
  const asked = await core.createNamespacedPod({
    namespace: "plain",
    body: podBody("asked", { "trellis.dev/inject": "enabled" }),
  });
  assert.ok(injected(asked), "the pod's own annotation wins over an unannotated namespace");
  const unasked = await core.createNamespacedPod({ namespace: "plain", body: podBody("unasked") });
  assert.ok(!injected(unasked));
  const system = await core.createNamespacedPod({
    namespace: "kube-system",
    body: podBody("system", { "trellis.dev/inject": "enabled" }),
  });
  assert.deepEqual(names(system.spec?.initContainers), []);
  for (const [ns, name] of [
    ["meshed", "web"],
    ["meshed", "opted-out"],
    ["plain", "asked"],
    ["plain", "unasked"],
    ["kube-system", "system"],
  ] as const)
    await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
});

test("a Deployment's pod is injected with the Deployment's name, and an Event on its ReplicaSet says so", async () => {
  await apply(
    cluster,
    JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "shop", namespace: "meshed" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "shop" } },
        template: { metadata: { labels: { app: "shop" } }, spec: podBody("x").spec },
      },
    }),
  );
  const pod = await waitForObject<V1Pod>(
    cluster.kubeConfig,
    "the shop Deployment's pod",
    {
      path: "/api/v1/namespaces/meshed/pods",
      list: () => core.listNamespacedPod({ namespace: "meshed", labelSelector: "app=shop" }),
      labelSelector: "app=shop",
    },
    () => true,
  );
  assert.ok(injected(pod));
  const env = pod.spec?.initContainers?.find((c) => c.name === "trellis-proxy")?.env ?? [];
  assert.equal(env.find((e) => e.name === PROXY_ENV.DEPLOYMENT)?.value, "shop");
  const rs = pod.metadata?.ownerReferences?.[0]?.name;
  const event = await waitForObject<CoreV1Event>(
    cluster.kubeConfig,
    `an Injected Event on ReplicaSet ${rs}`,
    {
      path: "/api/v1/namespaces/meshed/events",
      list: () => core.listNamespacedEvent({ namespace: "meshed" }),
    },
    (e) => e.involvedObject.kind === "ReplicaSet" && e.involvedObject.name === rs && e.reason === "Injected",
  );
  assert.match(
    event.message ?? "",
    /trellis-proxy injected, as namespace "meshed" \(annotated "trellis.dev\/inject: enabled"\) asks/,
  );
  assert.equal(event.source?.component, "trellis-injector");
  // The pod that opted out got its Event too, on itself (it has no owner).
  const skipped = await waitForObject<CoreV1Event>(
    cluster.kubeConfig,
    "an InjectionSkipped Event on pod opted-out",
    {
      path: "/api/v1/namespaces/meshed/events",
      list: () => core.listNamespacedEvent({ namespace: "meshed" }),
    },
    (e) => e.involvedObject.name === "opted-out" && e.reason === "InjectionSkipped",
  );
  assert.match(skipped.message ?? "", /not injected: the pod is annotated "trellis.dev\/inject: disabled"/);
  await cluster.kubectl(["-n", "meshed", "delete", "deployment", "shop", "--wait=false"]);
});

test("a change to trellis-config reaches the next pod without restarting the injector", async () => {
  const before = await controlPlanePodReady(cluster, "injector");
  const logLevel = (p: V1Pod) =>
    p.spec?.initContainers
      ?.find((c) => c.name === "trellis-proxy")
      ?.env?.find((e) => e.name === "TRELLIS_LOG")?.value;
  await cluster.kubectl([
    "-n",
    NAMESPACE,
    "patch",
    "configmap",
    "trellis-config",
    "-p",
    '{"data":{"proxyLogLevel":"debug"}}',
  ]);
  await dryRunUntil(
    "meshed",
    podBody("probe"),
    (o) => "pod" in o && logLevel(o.pod) === "debug",
    "a pod injected with the new log level",
  );
  await cluster.kubectl([
    "-n",
    NAMESPACE,
    "patch",
    "configmap",
    "trellis-config",
    "-p",
    '{"data":{"proxyLogLevel":"info"}}',
  ]);
  await dryRunUntil(
    "meshed",
    podBody("probe"),
    (o) => "pod" in o && logLevel(o.pod) === "info",
    "the log level restored",
  );
  const after = await core.readNamespacedPod({ namespace: NAMESPACE, name: before.metadata?.name ?? "" });
  assert.equal(after.status?.containerStatuses?.[0]?.restartCount ?? 0, 0);
});

test("meshctl check passes with trellis-injector; fails on the caBundle line with its hint once the caBundle is another CA's; passes once install is re-applied", async () => {
  const ok = await meshctlOn(cluster, ["check", "--wait", WAIT]);
  assertCheckPassed(ok);
  for (const line of [
    "trellis-injector",
    `√ ${CA_LINE}`,
    "√ injector serving certificate is valid for at least 60 days",
  ])
    assert.ok(ok.stdout.split("\n").includes(line), `no "${line}" in:\n${ok.stdout}`);

  const other = await createCa("not-the-injectors-ca");
  const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const name = `trellis-${NAMESPACE}-injector`;
  const config = await admission.readMutatingWebhookConfiguration({ name });
  const hook = config.webhooks?.[0];
  assert.ok(hook);
  hook.clientConfig.caBundle = Buffer.from(other.certPem).toString("base64");
  await admission.replaceMutatingWebhookConfiguration({ name, body: config });
  // The API server picks the new caBundle up through its informer: wait until a dry run shows it.
  await dryRunUntil(
    "default",
    podBody("probe", { "trellis.dev/inject": "enabled" }),
    (o) => "error" in o && /x509/.test(o.error),
    "the API server refusing the injector's certificate",
  );
  assertCheckFailedOn(
    await meshctlOn(cluster, ["check"]),
    CA_LINE,
    /does not trust the certificate the injector presents with the caBundle of MutatingWebhookConfiguration trellis-trellis-injector:\n.*x509/,
  );

  await apply(cluster, install);
  assertCheckPassed(await meshctlOn(cluster, ["check", "--wait", WAIT]));
});

test("meshctl uninstall deletes the webhook configuration first: pods are created again, unmeshed, while the rest goes", async () => {
  const uninstall = await meshctlOn(cluster, ["uninstall"]);
  assert.equal(uninstall.code, 0, uninstall.stderr);
  assert.match(
    uninstall.stdout,
    /^---\napiVersion: admissionregistration.k8s.io\/v1\nkind: MutatingWebhookConfiguration\n/,
  );
  await cluster.kubectl(["delete", "--wait=false", "-f", "-"], { input: uninstall.stdout });
  const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const left = await admission.listMutatingWebhookConfiguration();
  assert.deepEqual(
    left.items.map((c) => c.metadata?.name),
    [],
  );
  // Nothing calls the injector any more: a pod asking for it is created as it is.
  const after = await dryRunUntil(
    "plain",
    podBody("after", { "trellis.dev/inject": "enabled" }),
    (o) => "pod" in o && !injected(o.pod),
    "a pod created without the webhook",
  );
  assert.deepEqual(names(podOf(after).spec?.initContainers), []);
});
