// viz's in-cluster sources over a fake API server: which pods are scraped and through which path, the
// TrafficSplits read from the API, and the viz Prometheus reached through the service proxy, whose
// failures are one line naming it and what to do.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import {
  clusterSplits,
  meshedPodTargets,
  requireNamespace,
  scrapeablePods,
  vizPrometheus,
} from "../../../cli/viz/cluster.js";
import { prometheusProxyPath } from "../../../cli/viz/install.js";
import type { RestResult } from "../../../control/k8s/index.js";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import { SourceError } from "../../../viz/source.js";

function api(
  objects: Record<string, unknown>,
  text: (path: string) => RestResult<string> = () => ({ ok: false, status: 404, reason: "HTTP 404" }),
) {
  return {
    serverUrl: "https://127.0.0.1:6443",
    get: async <T>(path: string) =>
      ({ ok: true, status: 200, body: objects[path] as T | undefined }) as RestResult<T | undefined>,
    getText: async (path: string) => text(path),
  };
}

const meshed = (name: string, phase: string, podIP?: string): V1Pod => ({
  metadata: {
    name,
    namespace: "shop",
    labels: { "pod-template-hash": "abc12" },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-abc12", uid: "u", controller: true },
    ],
  },
  spec: { containers: [{ name: "app" }, { name: PROXY_CONTAINER }] },
  status: { phase, ...(podIP ? { podIP } : {}) },
});

test("the running meshed pods with an address are scraped through the pod proxy, labelled with their workload", async () => {
  const pods = [
    meshed("web-1", "Running", "198.18.0.2"),
    meshed("web-2", "Pending"),
    meshed("web-3", "Running"),
  ];
  assert.deepEqual(
    scrapeablePods(pods).map((p) => p.metadata?.name),
    ["web-1"],
  );
  const targets = await meshedPodTargets(api({ "/api/v1/namespaces/shop/pods": { items: pods } }), "shop");
  assert.deepEqual(targets, [
    {
      admin: "shop/web-1",
      url: "/api/v1/namespaces/shop/pods/web-1:4191/proxy/metrics",
      labels: { namespace: "shop", pod: "web-1", deployment: "web" },
    },
  ]);
  await assert.rejects(meshedPodTargets(api({ "/api/v1/pods": { items: [] } }), undefined), {
    message:
      "no running meshed pods in any namespace (pods with the trellis-proxy container); mesh them with meshctl inject",
  });
  await assert.rejects(requireNamespace(api({}), "nowhere"), {
    message: /the namespace nowhere does not exist/,
  });
});

test("TrafficSplits come from the API with their weights", async () => {
  const splits = await clusterSplits(
    api({
      "/apis/split.smi-spec.io/v1alpha2/namespaces/shop/trafficsplits": {
        items: [
          {
            metadata: { name: "books-canary", namespace: "shop" },
            spec: {
              service: "books",
              backends: [
                { service: "books-v1", weight: 90 },
                { service: "books-v2", weight: 10 },
              ],
            },
          },
          { metadata: { name: "incomplete" }, spec: {} },
        ],
      },
    }),
    "shop",
  );
  assert.deepEqual(splits, [
    {
      name: "books-canary",
      namespace: "shop",
      apex: "books",
      backends: [
        { service: "books-v1", weight: 90 },
        { service: "books-v2", weight: 10 },
      ],
    },
  ]);
});

test("the viz Prometheus is asked through the service proxy; when it cannot answer, one line says so and what to do", async () => {
  const asked: string[] = [];
  const up = vizPrometheus(
    api({}, (path) => {
      asked.push(path);
      return {
        ok: true,
        status: 200,
        body: JSON.stringify({
          status: "success",
          data: { resultType: "vector", result: [{ metric: { pod: "web-1" }, value: [0, "3"] }] },
        }),
      };
    }),
    "trellis-viz",
    60,
  );
  assert.deepEqual(await up.query("up"), [{ labels: { pod: "web-1" }, value: 3 }]);
  assert.deepEqual(asked, [`${prometheusProxyPath("trellis-viz")}/api/v1/query?query=up`]);

  const down = vizPrometheus(
    api({}, () => ({
      ok: false,
      status: 503,
      reason: 'HTTP 503: no endpoints available for service "prometheus"',
    })),
    "trellis-viz",
    60,
  );
  await assert.rejects(down.query("up"), (err: Error) => {
    assert.ok(err instanceof SourceError);
    assert.equal(
      err.message,
      'the viz Prometheus (service trellis-viz/prometheus, through the API server) is unreachable (HTTP 503: no endpoints available for service "prometheus"); see `meshctl viz check`, or read the proxies themselves with --direct',
    );
    return true;
  });
});
