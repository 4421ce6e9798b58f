// The Kubernetes translation on its own (the informer source against a real API server belongs to the
// cluster tier): Services + EndpointSlices + Pods → endpoints with readiness, identity inputs, owners
// and named ports; ServiceProfiles and TrafficSplits through the same validation as local files.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1EndpointSlice, V1Pod, V1Service } from "@kubernetes/client-node";
import { ProtocolHint } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { endpointView } from "../../../control/destination/endpoints.js";
import { translate } from "../../../control/destination/kubernetes.js";
import { profileView } from "../../../control/destination/profiles.js";

const svc: V1Service = {
  metadata: { name: "web", namespace: "shop", annotations: { "trellis.dev/opaque-ports": "5432" } },
  spec: {
    clusterIP: "10.96.0.10",
    ports: [
      { name: "http", port: 80, targetPort: "http-app" as unknown as never },
      { name: "pg", port: 5432, targetPort: 5432 as unknown as never },
    ],
  },
};
const pod = (
  name: string,
  meshed: boolean,
  owner?: { kind: string; name: string },
  hash?: string,
): V1Pod => ({
  metadata: {
    name,
    namespace: "shop",
    labels: hash ? { "pod-template-hash": hash } : {},
    ...(owner && {
      ownerReferences: [
        { apiVersion: "apps/v1", kind: owner.kind, name: owner.name, uid: "u", controller: true },
      ],
    }),
  },
  spec: {
    serviceAccountName: "web",
    containers: [{ name: "app" }, ...(meshed ? [{ name: "trellis-proxy" }] : [])],
  },
});
const slice: V1EndpointSlice = {
  addressType: "IPv4",
  metadata: { name: "web-abc", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
  ports: [
    { name: "http", port: 8080 },
    { name: "pg", port: 5432 },
  ],
  endpoints: [
    {
      addresses: ["10.1.0.1"],
      conditions: { ready: true },
      targetRef: { kind: "Pod", name: "web-5d9f-x1" },
      zone: "a",
    },
    { addresses: ["10.1.0.2"], conditions: {}, targetRef: { kind: "Pod", name: "db-0" } },
    {
      addresses: ["10.1.0.3"],
      conditions: { ready: false },
      targetRef: { kind: "Pod", name: "web-5d9f-x3" },
    },
    {
      addresses: ["10.1.0.4"],
      conditions: { ready: true, terminating: true },
      targetRef: { kind: "Pod", name: "web-5d9f-x4" },
    },
  ],
};

test("Services, EndpointSlices and Pods become ready endpoints with identity, owner labels and resolved named ports", () => {
  const { state, problems } = translate(
    {
      services: [svc, { metadata: { name: "headless", namespace: "shop" }, spec: { clusterIP: "None" } }],
      endpointSlices: [slice],
      pods: [
        pod("web-5d9f-x1", true, { kind: "ReplicaSet", name: "web-5d9f" }, "5d9f"),
        pod("db-0", false, { kind: "StatefulSet", name: "db" }),
      ],
      serviceProfiles: [],
      trafficSplits: [],
    },
    "cluster.local",
  );
  assert.deepEqual(problems, []);
  assert.equal(state.clusterIPs.get("10.96.0.10")?.name, "web");
  assert.equal(state.services.get("shop/headless")?.clusterIP, undefined);
  const view = endpointView(
    { kind: "service", namespace: "shop", name: "web", port: 80 },
    state,
    "cluster.local",
  );
  assert.deepEqual(
    [...view.addrs.values()].map((a) => [
      `${a.addr.addr?.ip}:${a.addr.addr?.port}`,
      a.addr.identity,
      a.addr.metricLabels.deployment ?? a.addr.metricLabels.statefulset,
    ]),
    [
      ["10.1.0.1:8080", "spiffe://cluster.local/ns/shop/sa/web", "web"],
      ["10.1.0.2:8080", "", "db"],
    ],
  );
  assert.equal([...view.addrs.values()][0]?.addr.metricLabels.zone, "a");
  const pg = profileView(
    { kind: "service", namespace: "shop", name: "web", port: 5432 },
    "",
    state,
    "cluster.local",
  );
  assert.equal(pg.opaqueProtocol, true);
});

test("opaque ports: Linkerd's defaults for a Service without the annotation; the annotation, ranges included, replaces them", () => {
  const service = (name: string, annotation: string | undefined): V1Service => ({
    metadata: {
      name,
      namespace: "shop",
      ...(annotation !== undefined && { annotations: { "trellis.dev/opaque-ports": annotation } }),
    },
    spec: { clusterIP: `10.96.0.${name.length}`, ports: [80, 3306, 8080].map((port) => ({ port })) },
  });
  const { state } = translate(
    {
      services: [service("plain", undefined), service("ranged", "8000-8100"), service("bad", "80,nope")],
      endpointSlices: [
        {
          addressType: "IPv4",
          metadata: { name: "plain-1", namespace: "shop", labels: { "kubernetes.io/service-name": "plain" } },
          endpoints: [{ addresses: ["10.1.1.1"], conditions: { ready: true } }],
        },
      ],
      pods: [],
      serviceProfiles: [],
      trafficSplits: [],
    },
    "cluster.local",
  );
  const opaque = (name: string, port: number) =>
    profileView({ kind: "service", namespace: "shop", name, port }, "", state, "cluster.local")
      .opaqueProtocol;
  // MySQL's port is opaque by default; the annotation replaces the default list.
  assert.deepEqual([opaque("plain", 80), opaque("plain", 3306), opaque("plain", 8080)], [false, true, false]);
  assert.deepEqual(
    [opaque("ranged", 80), opaque("ranged", 3306), opaque("ranged", 8080)],
    [false, false, true],
  );
  // A malformed annotation is as if absent: the defaults stay.
  assert.deepEqual([opaque("bad", 80), opaque("bad", 3306)], [false, true]);
  // An endpoint's own IP: the protocol of the port asked for, announced in its profile and its hint.
  const byIp = profileView({ kind: "ip", ip: "10.1.1.1", port: 3306 }, "", state, "cluster.local");
  assert.deepEqual([byIp.fullyQualifiedName, byIp.opaqueProtocol], ["", true]);
  const hint = [
    ...endpointView({ kind: "ip", ip: "10.1.1.1", port: 3306 }, state, "cluster.local").addrs.values(),
  ][0]?.addr.protocolHint;
  assert.equal(hint, ProtocolHint.PROTOCOL_HINT_OPAQUE);
  assert.equal(
    profileView({ kind: "ip", ip: "10.1.1.1", port: 80 }, "", state, "cluster.local").opaqueProtocol,
    false,
  );
});

test("ServiceProfiles and TrafficSplits from the API are validated like files; split weights read as quantities", () => {
  const { state, problems } = translate(
    {
      services: [svc, { metadata: { name: "web-v2", namespace: "shop" }, spec: { ports: [{ port: 80 }] } }],
      endpointSlices: [
        slice,
        {
          addressType: "IPv4",
          metadata: { name: "v2", namespace: "shop", labels: { "kubernetes.io/service-name": "web-v2" } },
          endpoints: [{ addresses: ["10.2.0.1"] }],
        },
      ],
      pods: [],
      serviceProfiles: [
        {
          apiVersion: "trellis.dev/v1alpha1",
          kind: "ServiceProfile",
          metadata: { name: "web.shop.svc.cluster.local", namespace: "shop", resourceVersion: "7", uid: "x" },
          spec: { routes: [{ name: "r", condition: { pathRegex: "(" } }] },
        },
      ],
      trafficSplits: [
        {
          apiVersion: "split.smi-spec.io/v1alpha2",
          kind: "TrafficSplit",
          metadata: { name: "s", namespace: "shop" },
          spec: {
            service: "web",
            backends: [
              { service: "web", weight: "900m" },
              { service: "web-v2", weight: 0.1 },
            ],
          },
        },
      ],
    },
    "cluster.local",
  );
  assert.equal(problems.length, 1);
  assert.match(
    problems[0]?.reason ?? "",
    /^ServiceProfile shop\/web\.shop\.svc\.cluster\.local \(Kubernetes API\).*pathRegex/,
  );
  const p = profileView(
    { kind: "service", namespace: "shop", name: "web", port: 80 },
    "",
    state,
    "cluster.local",
  );
  assert.deepEqual(
    p.dstOverrides.map((d) => [d.authority, d.weight]),
    [
      ["web.shop.svc.cluster.local:80", 9000],
      ["web-v2.shop.svc.cluster.local:80", 1000],
    ],
  );
});

test("regression: a pod whose proxy is a native sidecar (an init container) is meshed", () => {
  const native = pod("web-5d9f-x1", false, { kind: "ReplicaSet", name: "web-5d9f" }, "5d9f");
  native.spec = {
    ...native.spec,
    containers: [{ name: "app" }],
    initContainers: [{ name: "trellis-proxy", restartPolicy: "Always" }],
  };
  const { state } = translate(
    { services: [svc], endpointSlices: [slice], pods: [native], serviceProfiles: [], trafficSplits: [] },
    "cluster.local",
  );
  const view = endpointView(
    { kind: "service", namespace: "shop", name: "web", port: 80 },
    state,
    "cluster.local",
  );
  assert.equal([...view.addrs.values()][0]?.addr.identity, "spiffe://cluster.local/ns/shop/sa/web");
});
