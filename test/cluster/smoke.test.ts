/**
 * Smoke tests of the cluster test bed (issue 4): one real control plane and node stand-in, shared by
 * the tests of this file, each in its own namespace.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type V1EndpointSlice,
  type V1Pod,
} from "@kubernetes/client-node";
import { requireTools } from "../support/tools.js";
import { type Cluster, createCa, issueCert, startCluster, TEST_IMAGE_PREFIX } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";

const IDENTITY_AUDIENCE = "identity.trellis.dev";

let cluster: Cluster;
let core: CoreV1Api;

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
});
after(() => cluster?.stop());

function podReady(namespace: string, name: string): Promise<V1Pod> {
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    `pod ${namespace}/${name} Ready`,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace }),
      fieldSelector: `metadata.name=${name}`,
    },
    (p) =>
      Boolean(p.status?.podIP) &&
      Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
}

describe("cluster test bed", () => {
  test("a ServiceAccount token for identity.trellis.dev round-trips through TokenRequest and TokenReview", async () => {
    await cluster.createNamespace("tokens");
    await core.createNamespacedServiceAccount({ namespace: "tokens", body: { metadata: { name: "web" } } });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "web",
      namespace: "tokens",
      body: { spec: { audiences: [IDENTITY_AUDIENCE], expirationSeconds: 600 } },
    });
    const token = tr.status?.token ?? "";
    assert.ok(token.split(".").length === 3, "a JWT");

    const authn = cluster.kubeConfig.makeApiClient(AuthenticationV1Api);
    const review = await authn.createTokenReview({
      body: { spec: { token, audiences: [IDENTITY_AUDIENCE] } },
    });
    assert.equal(review.status?.authenticated, true, JSON.stringify(review.status));
    assert.equal(review.status?.user?.username, "system:serviceaccount:tokens:web");
    assert.deepEqual(review.status?.audiences, [IDENTITY_AUDIENCE]);

    const wrongAudience = await authn.createTokenReview({
      body: { spec: { token, audiences: ["other.example"] } },
    });
    assert.notEqual(wrongAudience.status?.authenticated, true);
    const garbage = await authn.createTokenReview({
      body: { spec: { token: "not.a.jwt", audiences: [IDENTITY_AUDIENCE] } },
    });
    assert.notEqual(garbage.status?.authenticated, true);
  });

  test("a Service and a Pod produce an EndpointSlice with the pod's address", async () => {
    await cluster.createNamespace("slices");
    await core.createNamespacedService({
      namespace: "slices",
      body: {
        metadata: { name: "web" },
        spec: {
          selector: { app: "web" },
          ports: [{ name: "http", port: 80, targetPort: 8080 }],
        },
      },
    });
    // No nodeName: the node stand-in binds it, as a scheduler would.
    await core.createNamespacedPod({
      namespace: "slices",
      body: {
        metadata: { name: "web-1", labels: { app: "web" } },
        spec: {
          containers: [
            { name: "echo", image: `${TEST_IMAGE_PREFIX}echo:latest`, ports: [{ containerPort: 8080 }] },
          ],
        },
      },
    });
    const pod = await podReady("slices", "web-1");
    const podIp = pod.status?.podIP ?? "";
    assert.match(podIp, /^198\.18\.\d+\.\d+$/);
    assert.equal(pod.spec?.nodeName, cluster.node.name);

    const discovery = cluster.kubeConfig.makeApiClient(DiscoveryV1Api);
    const slice = await waitForObject<V1EndpointSlice>(
      cluster.kubeConfig,
      "EndpointSlice of slices/web with the pod ready",
      {
        path: "/apis/discovery.k8s.io/v1/namespaces/slices/endpointslices",
        list: () => discovery.listNamespacedEndpointSlice({ namespace: "slices" }),
        labelSelector: "kubernetes.io/service-name=web",
      },
      (s) => Boolean(s.endpoints?.some((e) => e.addresses.includes(podIp) && e.conditions?.ready === true)),
    );
    const endpoint = slice.endpoints.find((e) => e.addresses.includes(podIp));
    assert.equal(endpoint?.nodeName, cluster.node.name);
    assert.equal(endpoint?.targetRef?.name, "web-1");
    assert.deepEqual(
      slice.ports?.map((p) => [p.name, p.port]),
      [["http", 8080]],
    );
  });

  test("a server in one pod's network namespace answers a client in another", async () => {
    await cluster.createNamespace("traffic");
    await core.createNamespacedService({
      namespace: "traffic",
      body: { metadata: { name: "server" }, spec: { selector: { app: "server" }, ports: [{ port: 8080 }] } },
    });
    // The readiness probe makes Ready mean "listening", as it would with a kubelet.
    await core.createNamespacedPod({
      namespace: "traffic",
      body: {
        metadata: { name: "server", labels: { app: "server" } },
        spec: {
          containers: [
            {
              name: "main",
              image: `${TEST_IMAGE_PREFIX}echo:latest`,
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: { httpGet: { path: "/ready", port: "http" }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: "traffic",
      body: {
        metadata: { name: "client", labels: { app: "client" } },
        spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools:latest` }] },
      },
    });
    const server = await podReady("traffic", "server");
    await podReady("traffic", "client");
    const serverIp = server.status?.podIP ?? "";

    const fetchScript = `fetch(process.argv[1]).then(async (r) => process.stdout.write(await r.text()))`;
    const res = await cluster.node.exec("traffic", "client", [
      process.execPath,
      "-e",
      fetchScript,
      `http://${serverIp}:8080/hello`,
    ]);
    assert.equal(res.code, 0, res.stderr);
    const body = JSON.parse(res.stdout) as { pod: string; path: string };
    assert.deepEqual([body.pod, body.path], ["server", "/hello"]);

    // The client is in its own namespace: its address is not the server's, and the server's is not local.
    const own = await cluster.node.exec("traffic", "client", ["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert.ok(!own.stdout.includes(`${serverIp}/`), own.stdout);

    // Service names resolve to the ClusterIP through the pod's hosts file.
    const svc = await core.readNamespacedService({ name: "server", namespace: "traffic" });
    const hosts = await cluster.node.exec("traffic", "client", [
      "getent",
      "hosts",
      "server.traffic.svc.cluster.local",
    ]);
    assert.equal(hosts.stdout.split(/\s+/)[0], svc.spec?.clusterIP);

    // And the ClusterIP is served (the node stand-in's userspace service proxy): by name, unmeshed.
    await cluster.node.waitForServiceEndpoints("traffic", "server");
    const viaService = await cluster.node.exec("traffic", "client", [
      "curl",
      "-sS",
      "http://server:8080/svc",
    ]);
    assert.equal(viaService.code, 0, viaService.stderr);
    assert.deepEqual(JSON.parse(viaService.stdout), {
      pod: "server",
      method: "GET",
      path: "/svc",
      host: "server:8080",
    });
  });

  test("a CRD applied with kubectl becomes Established", async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testbed.trellis.dev
spec:
  group: testbed.trellis.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`;
    const out = await cluster.kubectl(["apply", "-f", "-"], { input: crd });
    assert.match(out, /widgets\.testbed\.trellis\.dev created/);
    await cluster.kubectl([
      "wait",
      "--for=condition=Established",
      "crd/widgets.testbed.trellis.dev",
      "--timeout=60s",
    ]);
    const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const got = await ext.readCustomResourceDefinition({ name: "widgets.testbed.trellis.dev" });
    const established = got.status?.conditions?.find((c) => c.type === "Established");
    assert.equal(established?.status, "True");
    // And the new kind is served: kubectl can create one.
    await cluster.kubectl(["apply", "-f", "-"], {
      input:
        "apiVersion: testbed.trellis.dev/v1alpha1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {size: 3}\n",
    });
    assert.match(
      await cluster.kubectl(["get", "widgets", "-n", "default", "-o", "name"]),
      /widget\.testbed\.trellis\.dev\/w/,
    );
  });

  test("a mutating webhook served on 127.0.0.1 is called when a Pod is created", async (t) => {
    const ca = await createCa("webhook-test-ca");
    const serving = await issueCert(ca, { commonName: "webhook", ips: ["127.0.0.1"], usage: "server" });
    const calls: string[] = [];
    const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        const review = JSON.parse(body) as { request: { uid: string; name?: string; object?: V1Pod } };
        calls.push(review.request.object?.metadata?.name ?? review.request.name ?? "?");
        const patch = [
          { op: "add", path: "/metadata/annotations", value: { "testbed.trellis.dev/mutated": "yes" } },
        ];
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: {
              uid: review.request.uid,
              allowed: true,
              patchType: "JSONPatch",
              patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
            },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;

    await cluster.createNamespace("hooked", { "testbed.trellis.dev/webhook": "on" });
    const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: "testbed-mutator" },
        webhooks: [
          {
            name: "mutator.testbed.trellis.dev",
            clientConfig: {
              url: `https://127.0.0.1:${port}/mutate`,
              caBundle: Buffer.from(ca.certPem).toString("base64"),
            },
            rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
            namespaceSelector: { matchLabels: { "testbed.trellis.dev/webhook": "on" } },
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    });
    t.after(() => admission.deleteMutatingWebhookConfiguration({ name: "testbed-mutator" }).catch(() => {}));

    const podBody = (name: string) => ({
      metadata: { name },
      spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools:latest` }] },
    });
    // The apiserver learns of new webhook configurations through an informer; dry-run creations show
    // when it has (a webhook with sideEffects None is called for dry runs too). Bounded.
    for (let i = 0; !calls.includes("probe"); i++) {
      assert.ok(i < 100, "the apiserver never called the webhook for dry-run probes");
      await core.createNamespacedPod({ namespace: "hooked", body: podBody("probe"), dryRun: "All" });
      if (!calls.includes("probe")) await new Promise((r) => setTimeout(r, 100));
    }
    const created = await core.createNamespacedPod({ namespace: "hooked", body: podBody("mutated") });
    assert.ok(calls.includes("mutated"), `webhook calls: ${calls.join(", ")}`);
    assert.equal(created.metadata?.annotations?.["testbed.trellis.dev/mutated"], "yes");
  });
});

describe("node stand-in", () => {
  test("init containers run first as root, then the app reaches the API with its ServiceAccount token", async () => {
    await cluster.createNamespace("podapi");
    const script = [
      "cat /work/init-uid",
      "id -u",
      'curl -sS -o /dev/null -w "%{http_code}\\n" --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt ' +
        '-H "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" ' +
        "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/podapi/pods",
      'curl -sS -o /dev/null -w "%{http_code}\\n" --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt ' +
        "https://kubernetes.default.svc/version",
      'echo "$MY_NAME $MY_IP"',
      'echo "$FROM_CM $S_password"',
    ].join("; ");
    await core.createNamespacedConfigMap({
      namespace: "podapi",
      body: { metadata: { name: "cfg" }, data: { mode: "strict" } },
    });
    await core.createNamespacedSecret({
      namespace: "podapi",
      body: { metadata: { name: "creds" }, stringData: { password: "hunter2" } },
    });
    await core.createNamespacedPod({
      namespace: "podapi",
      body: {
        metadata: { name: "app" },
        spec: {
          restartPolicy: "Never",
          initContainers: [
            {
              name: "init",
              image: `${TEST_IMAGE_PREFIX}tools`,
              command: ["sh", "-c", "id -u > /work/init-uid"],
              volumeMounts: [{ name: "work", mountPath: "/work" }],
            },
          ],
          containers: [
            {
              name: "main",
              image: `${TEST_IMAGE_PREFIX}tools`,
              command: ["sh", "-c", script],
              env: [
                { name: "MY_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "MY_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                { name: "FROM_CM", valueFrom: { configMapKeyRef: { name: "cfg", key: "mode" } } },
              ],
              envFrom: [{ secretRef: { name: "creds" }, prefix: "S_" }],
              securityContext: { runAsUser: 2102 },
              volumeMounts: [{ name: "work", mountPath: "/work" }],
            },
          ],
          volumes: [{ name: "work", emptyDir: {} }],
        },
      },
    });
    const done = await waitForObject<V1Pod>(
      cluster.kubeConfig,
      "pod podapi/app Succeeded",
      {
        path: "/api/v1/namespaces/podapi/pods",
        list: () => core.listNamespacedPod({ namespace: "podapi" }),
      },
      (p) => p.status?.phase === "Succeeded" || p.status?.phase === "Failed",
    );
    const log = cluster.node.logs("podapi", "app", "main").trim().split("\n");
    assert.equal(done.status?.phase, "Succeeded", log.join("\n"));
    // Root in the init container, UID 2102 in the app, and 403: authenticated as the pod's
    // ServiceAccount (through the node's forwarder, TLS checked with kube-root-ca.crt) but not allowed.
    // /version is open to every client: 200 through the `kubernetes` Service's ClusterIP.
    assert.deepEqual(log, ["0", "2102", "403", "200", `app ${done.status?.podIP}`, "strict hunter2"]);
  });

  test("an init container's iptables rules apply to the pod's traffic", async (t) => {
    if (!requireTools(t, "iptables")) return;
    await cluster.createNamespace("iptables");
    // As trellis-init will: inbound connections to port 80 are redirected to the app's port 8080.
    await core.createNamespacedPod({
      namespace: "iptables",
      body: {
        metadata: { name: "server" },
        spec: {
          initContainers: [
            {
              name: "init",
              image: `${TEST_IMAGE_PREFIX}tools`,
              command: ["iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "80"],
              args: ["-j", "REDIRECT", "--to-ports", "8080"],
            },
          ],
          containers: [
            {
              name: "main",
              image: `${TEST_IMAGE_PREFIX}echo`,
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: "iptables",
      body: {
        metadata: { name: "client" },
        spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools` }] },
      },
    });
    const server = await podReady("iptables", "server");
    await podReady("iptables", "client");
    const res = await cluster.node.exec("iptables", "client", [
      "curl",
      "-sS",
      `http://${server.status?.podIP}:80/in`,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((JSON.parse(res.stdout) as { path: string }).path, "/in");
  });

  test("a webhook served by a pod is called through its Service, as the injector will be", async (t) => {
    await cluster.createNamespace("hooks");
    const ca = await createCa("hooks-ca");
    const serving = await issueCert(ca, {
      commonName: "webhook",
      dns: ["webhook.hooks.svc"],
      usage: "server",
    });
    await core.createNamespacedSecret({
      namespace: "hooks",
      body: {
        metadata: { name: "webhook-tls" },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": serving.certPem, "tls.key": serving.keyPem },
      },
    });
    await core.createNamespacedService({
      namespace: "hooks",
      body: {
        metadata: { name: "webhook" },
        spec: { selector: { app: "webhook" }, ports: [{ port: 443, targetPort: 8443 }] },
      },
    });
    await core.createNamespacedPod({
      namespace: "hooks",
      body: {
        metadata: { name: "webhook", labels: { app: "webhook" } },
        spec: {
          containers: [
            {
              name: "main",
              image: `${TEST_IMAGE_PREFIX}webhook`,
              readinessProbe: { tcpSocket: { port: 8443 }, periodSeconds: 1 },
              volumeMounts: [{ name: "tls", mountPath: "/tls" }],
            },
          ],
          volumes: [{ name: "tls", secret: { secretName: "webhook-tls" } }],
        },
      },
    });
    await podReady("hooks", "webhook");
    await cluster.node.waitForServiceEndpoints("hooks", "webhook");

    await cluster.createNamespace("hooked-by-pod", { "testbed.trellis.dev/pod-webhook": "on" });
    const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: "testbed-pod-mutator" },
        webhooks: [
          {
            name: "pod-mutator.testbed.trellis.dev",
            clientConfig: {
              service: { name: "webhook", namespace: "hooks", path: "/mutate", port: 443 },
              caBundle: Buffer.from(ca.certPem).toString("base64"),
            },
            rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
            namespaceSelector: { matchLabels: { "testbed.trellis.dev/pod-webhook": "on" } },
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    });
    t.after(() =>
      admission.deleteMutatingWebhookConfiguration({ name: "testbed-pod-mutator" }).catch(() => {}),
    );
    const body = {
      metadata: { name: "app" },
      spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools` }] },
    };
    // Dry runs until the apiserver has picked the configuration up (bounded), then the real thing.
    for (let i = 0; ; i++) {
      const probe = await core.createNamespacedPod({ namespace: "hooked-by-pod", body, dryRun: "All" });
      if (probe.metadata?.annotations?.["testbed.trellis.dev/mutated-by"]) break;
      assert.ok(i < 100, "the apiserver never called the webhook pod");
      await new Promise((r) => setTimeout(r, 100));
    }
    const created = await core.createNamespacedPod({ namespace: "hooked-by-pod", body });
    assert.equal(created.metadata?.annotations?.["testbed.trellis.dev/mutated-by"], "webhook");
  });

  test("deleting a pod stops its processes and removes its network namespace", async () => {
    await cluster.createNamespace("deletion");
    await core.createNamespacedPod({
      namespace: "deletion",
      body: {
        metadata: { name: "doomed" },
        spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools` }] },
      },
    });
    await podReady("deletion", "doomed");
    const netns = cluster.node.netnsOf("deletion", "doomed");
    assert.ok(cluster.node.netnsList().includes(netns));
    // A plain delete (30 s grace): the stand-in stops the pod and finishes the deletion, as a kubelet does.
    await core.deleteNamespacedPod({ name: "doomed", namespace: "deletion" });
    await cluster.kubectl(["wait", "--for=delete", "pod/doomed", "-n", "deletion", "--timeout=60s"]);
    assert.ok(!cluster.node.netnsList().includes(netns));
    const all = await new Promise<string>((resolve, reject) =>
      execFile("ip", ["netns", "list"], (err, out) => (err ? reject(err) : resolve(out))),
    );
    assert.ok(!all.split("\n").some((l) => l.split(" ")[0] === netns), all);
  });
});
