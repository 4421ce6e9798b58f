/**
 * The destination service's Kubernetes source against a real kube-apiserver: Services, the
 * EndpointSlices the real controller publishes for the node stand-in's pods, and Pods, streamed to a
 * real grpc-js client as they change.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { DestinationClient, type Update } from "../../control/api/gen/trellis/destination/v1/destination.js";
import { bin, type Child, startNode } from "../support/process.js";
import { type Cluster, startCluster, TEST_IMAGE_PREFIX } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";

let cluster: Cluster;
let core: CoreV1Api;
let destination: Child;
let client: DestinationClient;

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  destination = startNode(undefined, bin("trellis-controller"), [
    "destination",
    "--source=kubernetes",
    `--kubeconfig=${cluster.kubeconfigPath}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
  ]);
  const ready = await destination.ready<{ listen: string }>(60_000);
  client = new DestinationClient(ready.listen, grpc.credentials.createInsecure());
});

after(async () => {
  client?.close();
  await destination?.stop();
  await cluster?.stop();
});

function pod(name: string, meshed: boolean): V1Pod {
  const containers = [
    { name: "app", image: `${TEST_IMAGE_PREFIX}echo:latest`, ports: [{ name: "http", containerPort: 8080 }] },
  ];
  // The source calls a pod meshed when it runs the proxy container; here it only sleeps.
  if (meshed)
    containers.push({ name: "trellis-proxy", image: `${TEST_IMAGE_PREFIX}tools:latest`, ports: [] });
  return { metadata: { name, labels: { app: "web" } }, spec: { serviceAccountName: "web", containers } };
}

async function podIp(name: string): Promise<string> {
  const p = await waitForObject<V1Pod>(
    cluster.kubeConfig,
    `pod shop/${name} Ready`,
    {
      path: "/api/v1/namespaces/shop/pods",
      list: () => core.listNamespacedPod({ namespace: "shop", fieldSelector: `metadata.name=${name}` }),
      fieldSelector: `metadata.name=${name}`,
    },
    (x) =>
      x.metadata?.name === name &&
      Boolean(x.status?.podIP) &&
      Boolean(x.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
  return p.status?.podIP ?? "";
}

/** Reads updates until one satisfies `pred` (bounded). */
function nextMatching(
  updates: Update[],
  stream: grpc.ClientReadableStream<Update>,
  pred: (u: Update) => boolean,
  what: string,
): Promise<Update> {
  const found = updates.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no update with ${what} within 30 s: ${JSON.stringify(updates)}`)),
      30_000,
    );
    const onData = (u: Update) => {
      if (!pred(u)) return;
      clearTimeout(timer);
      stream.off("data", onData);
      resolve(u);
    };
    stream.on("data", onData);
  });
}

const adds = (ip: string) => (u: Update) =>
  u.update?.$case === "add" && u.update.value.addrs.some((a) => a.addr?.ip === ip);
const removes = (ip: string) => (u: Update) =>
  u.update?.$case === "remove" && u.update.value.addrs.some((a) => a.ip === ip);

test("a Service's ready pods stream to a Get as the real EndpointSlice controller publishes them", async () => {
  await cluster.createNamespace("shop");
  await core.createNamespacedServiceAccount({ namespace: "shop", body: { metadata: { name: "web" } } });
  await core.createNamespacedService({
    namespace: "shop",
    body: {
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    },
  });
  await core.createNamespacedPod({ namespace: "shop", body: pod("web-1", false) });
  const ip1 = await podIp("web-1");

  const updates: Update[] = [];
  const stream = client.get({ authority: "web.shop.svc.cluster.local:80", contextNamespace: "shop" });
  stream.on("data", (u: Update) => updates.push(u));
  stream.on("error", () => {});
  try {
    const first = await nextMatching(updates, stream, adds(ip1), `web-1 (${ip1})`);
    // The pod can be Ready before the EndpointSlice controller has published it: then the Service
    // exists without endpoints for a moment, which is what the stream must say first.
    const head = updates[0];
    if (head !== first) {
      assert.equal(head?.update?.$case, "noEndpoints");
      assert.equal(
        head?.update?.$case === "noEndpoints" && head.update.value.exists,
        true,
        "the Service exists",
      );
    }
    const a1 =
      first.update?.$case === "add" ? first.update.value.addrs.find((a) => a.addr?.ip === ip1) : undefined;
    assert.equal(a1?.addr?.port, 8080, "the named targetPort resolves to the container port");
    assert.equal(a1?.identity, "", "a pod without the proxy is not meshed");
    assert.equal(a1?.metricLabels.pod, "web-1");

    await core.createNamespacedPod({ namespace: "shop", body: pod("web-2", true) });
    const ip2 = await podIp("web-2");
    // The slice and the pod arrive through different watches: the endpoint may first be announced
    // before its pod is seen, and is announced again, meshed, once it is.
    const meshedAdd = (u: Update) =>
      u.update?.$case === "add" && u.update.value.addrs.some((a) => a.addr?.ip === ip2 && a.identity !== "");
    const second = await nextMatching(updates, stream, meshedAdd, `web-2 (${ip2}) meshed`);
    const a2 =
      second.update?.$case === "add" ? second.update.value.addrs.find((a) => a.addr?.ip === ip2) : undefined;
    assert.equal(
      a2?.identity,
      "spiffe://cluster.local/ns/shop/sa/web",
      "a meshed pod carries its ServiceAccount's identity",
    );
    assert.equal(a2?.proxyInboundPort, 4143);

    await core.deleteNamespacedPod({ name: "web-1", namespace: "shop" });
    await nextMatching(updates, stream, removes(ip1), `web-1 removed`);
  } finally {
    stream.cancel();
  }
});
