// The informer source against a fake API server on 127.0.0.1 (list + watch over HTTP, as
// kube-apiserver answers them): it syncs without the CRDs installed, follows watch events, and when a
// watch breaks it restarts after backoff, re-lists (410 Gone) and catches up. The real API server test
// belongs to the cluster tier.
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { DestinationClient } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { KubernetesSource } from "../../../control/destination/kubernetes-source.js";
import { startDestinationService } from "../../../control/destination/server.js";
import { addrsOf, get, memoryLogger } from "./harness.js";

type Obj = { metadata: { name: string; namespace: string; resourceVersion?: string }; [k: string]: unknown };

const PATHS: Record<string, string> = {
  "/api/v1/services": "services",
  "/apis/discovery.k8s.io/v1/endpointslices": "endpointslices",
  "/api/v1/pods": "pods",
};

async function fakeApiServer(t: TestContext) {
  let rv = 1;
  const objects: Record<string, Map<string, Obj>> = {
    services: new Map(),
    endpointslices: new Map(),
    pods: new Map(),
  };
  const watches = new Set<{ kind: string; res: ServerResponse }>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const kind = PATHS[url.pathname];
    requests.push(`${url.pathname}${url.searchParams.get("watch") ? " watch" : ""}`);
    if (!kind) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          code: 404,
          reason: "NotFound",
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    if (url.searchParams.get("watch") !== "true") {
      res.end(
        JSON.stringify({
          kind: "List",
          apiVersion: "v1",
          metadata: { resourceVersion: String(rv) },
          items: [...(objects[kind] as Map<string, Obj>).values()],
        }),
      );
      return;
    }
    if (url.searchParams.get("resourceVersion") !== String(rv)) {
      // Too old: what kube-apiserver says when it cannot replay from there.
      res.end(
        `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } })}\n`,
      );
      return;
    }
    const w = { kind, res };
    watches.add(w);
    res.on("close", () => watches.delete(w));
    res.flushHeaders();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    /** Stores an object and tells open watches (unless quiet: then only a re-list sees it). */
    put(kind: string, obj: Obj, quiet = false) {
      rv++;
      obj.metadata.resourceVersion = String(rv);
      const map = objects[kind] as Map<string, Obj>;
      const type = map.has(`${obj.metadata.namespace}/${obj.metadata.name}`) ? "MODIFIED" : "ADDED";
      map.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
      if (quiet) return;
      for (const w of watches) if (w.kind === kind) w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    },
    /** Breaks every open watch mid-stream. */
    breakWatches() {
      for (const w of watches) w.res.socket?.destroy();
    },
  };
}

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
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "fake", server: api.url, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
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
