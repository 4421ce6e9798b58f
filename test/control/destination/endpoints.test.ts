// Get over real gRPC against the real service on the local source: the first message is the full set
// (never no_endpoints for a Service with endpoints), edits of the files arrive on open streams as add,
// remove and no_endpoints, only ready endpoints are announced, and every name form resolves.
import assert from "node:assert/strict";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { ProtocolHint } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { addrsOf, get, getProfile as getProfileOf, serviceYaml, startHarness, writeYaml } from "./harness.js";

test("the first message of a Service with endpoints is an add with every ready endpoint, fully described", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", [
      { address: "10.1.0.1", pod: "web-1", deployment: "web", serviceAccount: "web", labels: { zone: "a" } },
      { address: "10.1.0.2", pod: "web-2", deployment: "web", serviceAccount: "web", ready: false },
      { address: "10.1.0.3", pod: "legacy", meshed: false },
    ]),
  });
  const s = get(t, h.client, "web.shop.svc.cluster.local:80");
  const first = await s.next();
  assert.equal(first.update?.$case, "add");
  assert.deepEqual(addrsOf(first), ["10.1.0.1:8080", "10.1.0.3:8080"]);
  if (first.update?.$case !== "add") return;
  assert.deepEqual(first.update.value.metricLabels, { namespace: "shop", service: "web" });
  const meshed = first.update.value.addrs.find((a) => a.addr?.ip === "10.1.0.1");
  assert.deepEqual(meshed, {
    addr: { ip: "10.1.0.1", port: 8080 },
    weight: 10000,
    metricLabels: { zone: "a", namespace: "shop", pod: "web-1", serviceaccount: "web", deployment: "web" },
    identity: "spiffe://cluster.local/ns/shop/sa/web",
    protocolHint: ProtocolHint.PROTOCOL_HINT_H2,
    proxyInboundPort: 4143,
  });
  const plain = first.update.value.addrs.find((a) => a.addr?.ip === "10.1.0.3");
  assert.equal(plain?.identity, "");
  assert.equal(plain?.protocolHint, ProtocolHint.PROTOCOL_HINT_UNKNOWN);
  assert.equal(plain?.proxyInboundPort, 0);
});

test("file edits reach an open stream: add, remove, then no_endpoints{exists:true}, then no_endpoints{exists:false}", async (t) => {
  const h = await startHarness(t, { "web.yaml": serviceYaml("web", "shop", ["10.1.0.1", "10.1.0.2"]) });
  const s = get(t, h.client, "web.shop:80");
  assert.deepEqual(addrsOf(await s.next()), ["10.1.0.1:8080", "10.1.0.2:8080"]);

  // Replace one endpoint: the new one is added before the old one is removed.
  await writeYaml(h.dir, "web.yaml", serviceYaml("web", "shop", ["10.1.0.1", "10.1.0.3"]));
  const removed = await s.next((m) => m.update?.$case === "remove", 1);
  assert.deepEqual(addrsOf(removed), ["10.1.0.2:8080"]);
  assert.deepEqual(
    s.messages.slice(1).map((m) => [m.update?.$case, addrsOf(m)]),
    [
      ["add", ["10.1.0.3:8080"]],
      ["remove", ["10.1.0.2:8080"]],
    ],
  );

  // An endpoint that starts terminating leaves while it still serves.
  await writeYaml(
    h.dir,
    "web.yaml",
    serviceYaml("web", "shop", ["10.1.0.1", { address: "10.1.0.3", terminating: true }]),
  );
  assert.deepEqual(addrsOf(await s.next((m) => m.update?.$case === "remove", 3)), ["10.1.0.3:8080"]);

  await writeYaml(h.dir, "web.yaml", serviceYaml("web", "shop", []));
  const empty = await s.next((m) => m.update?.$case === "noEndpoints", 1);
  assert.deepEqual(empty.update, { $case: "noEndpoints", value: { exists: true } });

  await writeYaml(h.dir, "web.yaml", "");
  const gone = await s.next((m) => m.update?.$case === "noEndpoints" && !m.update.value.exists, 1);
  assert.deepEqual(gone.update, { $case: "noEndpoints", value: { exists: false } });

  await writeYaml(h.dir, "web.yaml", serviceYaml("web", "shop", ["10.1.0.9"]));
  assert.deepEqual(addrsOf(await s.next((m) => m.update?.$case === "add", 5)), ["10.1.0.9:8080"]);
});

test("a Service without endpoints starts with no_endpoints{exists:true}; an unknown one with exists:false, and its later creation arrives", async (t) => {
  const h = await startHarness(t, { "empty.yaml": serviceYaml("empty", "shop", []) });
  const empty = get(t, h.client, "empty.shop.svc.cluster.local");
  assert.deepEqual((await empty.next()).update, { $case: "noEndpoints", value: { exists: true } });
  const unknown = get(t, h.client, "later.shop.svc:80");
  assert.deepEqual((await unknown.next()).update, { $case: "noEndpoints", value: { exists: false } });
  await writeYaml(h.dir, "later.yaml", serviceYaml("later", "shop", ["10.2.0.1"]));
  assert.deepEqual(addrsOf(await unknown.next((m) => m.update?.$case === "add")), ["10.2.0.1:8080"]);
  assert.equal(unknown.messages.length, 2);
});

test("every name form resolves to the same Service; short names use the caller's namespace", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"], { clusterIP: "10.96.0.10" }),
    "other.yaml": serviceYaml("web", "other", ["10.9.0.1"]),
  });
  const forms: [string, string][] = [
    ["web", "shop"],
    ["web:80", "shop"],
    ["web.shop", ""],
    ["web.shop:80", "other"],
    ["web.shop.svc", ""],
    ["web.shop.svc:80", ""],
    ["web.shop.svc.cluster.local", ""],
    ["web.shop.svc.cluster.local.:80", ""],
    ["WEB.Shop.svc.cluster.local:80", ""],
    ["10.96.0.10:80", ""],
    ["10.96.0.10", ""],
  ];
  for (const [authority, ns] of forms) {
    const s = get(t, h.client, authority, ns);
    assert.deepEqual(addrsOf(await s.next()), ["10.1.0.1:8080"], `${authority} from ${ns || "no namespace"}`);
    s.cancel();
  }
  assert.deepEqual(addrsOf(await get(t, h.client, "web", "other").next()), ["10.9.0.1:8080"]);
  // An endpoint's own IP: that endpoint alone, on the port asked for, with its identity; its profile
  // has no Service name.
  const pod = await get(t, h.client, "10.9.0.1:8080").next();
  assert.deepEqual(addrsOf(pod), ["10.9.0.1:8080"]);
  assert.equal(
    pod.update?.$case === "add" && pod.update.value.addrs[0]?.identity,
    "spiffe://cluster.local/ns/other/sa/default",
  );
  const podProfile = await getProfileOf(t, h.client, "10.9.0.1:8080").next();
  assert.equal(podProfile.fullyQualifiedName, "");
  assert.deepEqual(podProfile.routes, []);
  // A port the Service does not list maps to itself.
  assert.deepEqual(addrsOf(await get(t, h.client, "web.shop:9090").next()), ["10.1.0.1:9090"]);
});

test("bad names end the stream at once with the status the proto documents", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"], { clusterIP: "10.96.0.10" }),
  });
  const cases: [string, string, status, string][] = [
    ["", "shop", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["web:http", "shop", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["web:70000", "shop", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["we b.shop", "shop", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["x".repeat(1000), "shop", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["web", "", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_NO_NAMESPACE"],
    ["web", "Not_A_Namespace", status.INVALID_ARGUMENT, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["api.github.com:443", "shop", status.NOT_FOUND, "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"],
    ["web.shop.svc.example.org", "shop", status.NOT_FOUND, "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"],
    ["10.99.0.1:80", "shop", status.NOT_FOUND, "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"],
  ];
  for (const [authority, ns, code, errorCode] of cases) {
    for (const open of [get, getProfileOf]) {
      const ended = await open(t, h.client, authority, ns).status();
      assert.equal(ended.code, code, `${authority}: ${ended.details}`);
      assert.match(ended.details, new RegExp(`^${errorCode}: `), authority);
    }
  }
  // The service still serves.
  assert.deepEqual(addrsOf(await get(t, h.client, "web.shop").next()), ["10.1.0.1:8080"]);
});
