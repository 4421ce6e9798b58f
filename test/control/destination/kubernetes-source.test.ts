// The informer source against a stand-in API server on 127.0.0.1 (test/control/k8s/fake-api-server.ts):
// it syncs without the CRDs installed, follows watch events, and when a watch breaks it restarts after
// backoff, re-lists (410 Gone) and catches up. The real API server test belongs to the cluster tier.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { DestinationClient } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { KubernetesSource } from "../../../control/destination/kubernetes-source.js";
import { startDestinationService } from "../../../control/destination/server.js";
import { fakeApiServer, kubeConfigFor, type Obj } from "../k8s/fake-api-server.js";
import { addrsOf, get, memoryLogger } from "./harness.js";

const service = (): Obj => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "shop" },
  spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: 8080 }] },
});
const slice = (ips: string[]): Obj => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: "web-1",
    namespace: "shop",
    labels: { "kubernetes.io/service-name": "web" },
  } as Obj["metadata"],
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080 }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

test("the informer source syncs without CRDs, follows watch events, and recovers from a broken watch by re-listing", async (t) => {
  const api = await fakeApiServer(t);
  api.put("services", service());
  api.put("endpointslices", slice(["10.1.0.1"]));
  const kubeConfig = kubeConfigFor(api.url);
  const log = memoryLogger();
  const source = await KubernetesSource.open({
    kubeConfig,
    clusterDomain: "cluster.local",
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    log: log.log,
  });
  const running = await startDestinationService({
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    source,
    clusterDomain: "cluster.local",
    trustDomain: "cluster.local",
    log: log.log,
  });
  t.after(() => running.shutdown());
  const client = new DestinationClient(running.listen, grpc.credentials.createInsecure());
  t.after(() => client.close());

  const s = get(t, client, "web.shop.svc.cluster.local:80");
  assert.deepEqual(addrsOf(await s.next()), ["10.1.0.1:8080"]);
  assert.deepEqual(addrsOf(await get(t, client, "10.96.0.10:80").next()), ["10.1.0.1:8080"]);

  api.put("endpointslices", slice(["10.1.0.1", "10.1.0.2"]));
  assert.deepEqual(addrsOf(await s.next((m) => m.update?.$case === "add", 1)), ["10.1.0.2:8080"]);

  // The watch breaks and a change happens meanwhile: the informer restarts, is told 410 and re-lists.
  const lists = api.requests.filter((r) => r === "/apis/discovery.k8s.io/v1/endpointslices").length;
  api.breakWatches();
  api.put("endpointslices", slice(["10.1.0.2"]), true);
  const removed = await s.next((m) => m.update?.$case === "remove", 2);
  assert.deepEqual(addrsOf(removed), ["10.1.0.1:8080"]);
  assert.ok(api.requests.filter((r) => r === "/apis/discovery.k8s.io/v1/endpointslices").length > lists);
  assert.ok(
    log
      .lines()
      .some((l) => l.msg === "informer failed; restarting after backoff" && l.kind === "serviceProfiles"),
  );
});
