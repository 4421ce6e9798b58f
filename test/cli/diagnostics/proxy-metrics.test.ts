// meshctl diagnostics proxy-metrics over a fake API server: which pods a resource names, the path each
// proxy's metrics are read through, the header per pod, and one line per pod whose metrics could not
// be read while the others are still printed. The test bed's viz test runs it against real proxies.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { parseResource, proxyMetrics, renderProxyMetrics } from "../../../cli/diagnostics/proxy-metrics.js";
import { InputError, UsageError } from "../../../cli/errors.js";
import type { RestResult } from "../../../control/k8s/index.js";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import { meshctl } from "../../support/meshctl.js";

const pod = (name: string, owner: string, opts: { phase?: string; meshed?: boolean } = {}): V1Pod => ({
  metadata: {
    name,
    namespace: "shop",
    labels: { "pod-template-hash": "abc12" },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: `${owner}-abc12`, uid: "u", controller: true },
    ],
  },
  spec: {
    containers: [{ name: "app" }],
    initContainers: opts.meshed === false ? [] : [{ name: PROXY_CONTAINER, restartPolicy: "Always" }],
  },
  status: { phase: opts.phase ?? "Running", podIP: "198.18.0.2" },
});

function api(pods: V1Pod[], answer: (path: string) => RestResult<string>) {
  const objects: Record<string, unknown> = { "/api/v1/namespaces/shop/pods": { items: pods } };
  for (const p of pods) objects[`/api/v1/namespaces/shop/pods/${p.metadata?.name}`] = p;
  const asked: string[] = [];
  return {
    asked,
    serverUrl: "https://127.0.0.1:6443",
    get: async <T>(path: string) =>
      ({ ok: true, status: 200, body: objects[path] as T | undefined }) as RestResult<T | undefined>,
    getText: async (path: string) => {
      asked.push(path);
      return answer(path);
    },
  };
}

test("resources: kind/name with kubectl's short names, or a pod's bare name; anything else is a usage error", () => {
  assert.deepEqual(parseResource("deploy/web"), { kind: "deployment", name: "web" });
  assert.deepEqual(parseResource("po/web-1"), { kind: "pod", name: "web-1" });
  assert.deepEqual(parseResource("web-1"), { kind: "pod", name: "web-1" });
  assert.deepEqual(parseResource("StatefulSets/db"), { kind: "statefulset", name: "db" });
  for (const bad of ["svc/web", "deploy/", "deploy/web/x", "/web"])
    assert.throws(
      () => parseResource(bad),
      (err: Error) => err instanceof UsageError && err.message.includes(bad),
    );
});

test("a deployment's meshed pods are read through the pod proxy, each under a header; an unmeshed one is named", async () => {
  const pods = [
    pod("web-2", "web"),
    pod("web-1", "web"),
    pod("web-3", "web", { meshed: false }),
    pod("db-1", "db"),
  ];
  const fake = api(pods, (path) => ({ ok: true, status: 200, body: `request_total{path="${path}"} 1\n` }));
  const results = await proxyMetrics(fake, "shop", "deploy/web");
  assert.deepEqual(fake.asked.sort(), [
    "/api/v1/namespaces/shop/pods/web-1:4191/proxy/metrics",
    "/api/v1/namespaces/shop/pods/web-2:4191/proxy/metrics",
  ]);
  assert.deepEqual(
    results.map((r) => ("error" in r ? r.error : r.pod)),
    ["shop/web-1", "shop/web-2", "shop/web-3 has no trellis-proxy container: mesh it with meshctl inject"],
  );
  assert.equal(
    renderProxyMetrics(results),
    [
      "#",
      "# POD shop/web-1 (1 of 3)",
      "#",
      'request_total{path="/api/v1/namespaces/shop/pods/web-1:4191/proxy/metrics"} 1',
      "#",
      "# POD shop/web-2 (2 of 3)",
      "#",
      'request_total{path="/api/v1/namespaces/shop/pods/web-2:4191/proxy/metrics"} 1',
      "",
    ].join("\n"),
  );
});

test("a pod not found, a workload without pods, a pod not running and an unreachable proxy are each one line", async () => {
  const fake = api([pod("web-1", "web", { phase: "Pending" }), pod("api-1", "api")], () => ({
    ok: false,
    status: 503,
    reason: "HTTP 503: no endpoints available",
  }));
  await assert.rejects(
    proxyMetrics(fake, "shop", "pod/nope"),
    (err: Error) => err instanceof InputError && /pod shop\/nope not found/.test(err.message),
  );
  await assert.rejects(
    proxyMetrics(fake, "shop", "sts/db"),
    (err: Error) => err instanceof InputError && /no pods of statefulset shop\/db/.test(err.message),
  );
  assert.deepEqual(await proxyMetrics(fake, "shop", "web-1"), [
    { pod: "shop/web-1", error: "shop/web-1 is Pending: its proxy has no metrics to read" },
  ]);
  assert.deepEqual(await proxyMetrics(fake, "shop", "deploy/api"), [
    {
      pod: "shop/api-1",
      error: "cannot read the metrics of shop/api-1 through the API server: HTTP 503: no endpoints available",
    },
  ]);
});

test("meshctl: a resource of another form is a usage error before any connection; an unreachable API server is one line", async () => {
  const env = { KUBECONFIG: "test/fixtures/inject/kubeconfig.yaml" };
  const usage = await meshctl(["diagnostics", "proxy-metrics", "svc/web"], { env });
  assert.equal(usage.code, 2, usage.stderr);
  assert.match(usage.stderr, /^meshctl: "svc\/web" is not a resource of the form pod\/NAME/);
  const down = await meshctl(["diagnostics", "proxy-metrics", "-n", "shop", "deploy/web"], { env });
  assert.equal(down.code, 1, down.stderr);
  assert.equal(down.stdout, "");
  assert.match(down.stderr, /^meshctl: [^\n]*127\.0\.0\.1:1[^\n]*\n$/);
});
