// meshctl viz check's categories over a fake API server (paths to objects, and the service proxy's
// answers to Prometheus queries): all healthy; Prometheus scaled to 0 and unreachable, which stops the
// run before anything is asked of it; meshed pods it does not scrape or finds down; nothing meshed yet;
// objects missing; no namespace at all.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { objectPath } from "../../../cli/check/api.js";
import { type CheckContext, type Report, runChecks } from "../../../cli/check/index.js";
import { VIZ_CATEGORIES } from "../../../cli/viz/check.js";
import { prometheusProxyPath, VIZ_DEFAULTS, vizObjects } from "../../../cli/viz/install.js";
import type { RestResult } from "../../../control/k8s/index.js";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";

const NS = "trellis-viz";

type Up = { labels: Record<string, string>; value: 0 | 1 }[];

interface World {
  objects: Record<string, unknown>;
  ready: RestResult<string>;
  up: Record<string, Up>;
}

function context(world: World): CheckContext {
  const strip = (p: string) => p.split("?")[0] as string;
  return {
    namespace: NS,
    version: "0.1.0",
    now: () => new Date(),
    api: {
      get: async <T>(path: string) =>
        ({ ok: true, status: 200, body: world.objects[strip(path)] as T | undefined }) as RestResult<
          T | undefined
        >,
      post: async () => ({ ok: false, status: 405, reason: "not here" }),
      getText: async (path: string): Promise<RestResult<string>> => {
        const proxy = prometheusProxyPath(NS);
        if (path === `${proxy}/-/ready`) return world.ready;
        if (path.startsWith(`${proxy}/api/v1/query?`)) {
          if (!world.ready.ok) return world.ready;
          const query = new URLSearchParams(path.split("?")[1]).get("query") ?? "";
          const job = /up\{job="([^"]+)"\}/.exec(query)?.[1] ?? "";
          const result = (world.up[job] ?? []).map((s) => ({
            metric: { job, ...s.labels },
            value: [0, String(s.value)],
          }));
          return {
            ok: true,
            status: 200,
            body: JSON.stringify({ status: "success", data: { resultType: "vector", result } }),
          };
        }
        return { ok: false, status: 404, reason: `HTTP 404: ${path}` };
      },
    },
  };
}

const meshedPod = (namespace: string, name: string): V1Pod => ({
  metadata: { namespace, name },
  spec: { containers: [{ name: "app" }, { name: PROXY_CONTAINER }] },
  status: { phase: "Running", podIP: "198.18.0.9" },
});

function healthy(): World {
  const objects: Record<string, unknown> = {};
  for (const o of vizObjects({ ...VIZ_DEFAULTS }))
    objects[objectPath(o.kind, o.metadata.namespace, o.metadata.name)] = o;
  objects[`/apis/apps/v1/namespaces/${NS}/deployments/prometheus`] = {
    spec: { replicas: 1 },
    status: { availableReplicas: 1 },
  };
  objects[`/api/v1/namespaces/${NS}/pods`] = {
    items: [
      {
        metadata: { name: "prometheus-1", namespace: NS },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      },
    ],
  };
  objects["/api/v1/pods"] = {
    items: [
      meshedPod("shop", "web-1"),
      meshedPod("shop", "books-1"),
      {
        metadata: {
          namespace: "trellis",
          name: "trellis-destination-1",
          labels: { "trellis.dev/control-plane-component": "destination" },
        },
        spec: { containers: [{ name: "destination" }] },
        status: { phase: "Running", podIP: "198.18.0.3" },
      },
      {
        metadata: { namespace: "shop", name: "plain" },
        spec: { containers: [{ name: "app" }] },
        status: { phase: "Running" },
      },
    ],
  };
  return {
    objects,
    ready: { ok: true, status: 200, body: "Prometheus Server is Ready.\n" },
    up: {
      "trellis-proxy": [
        { labels: { namespace: "shop", pod: "web-1" }, value: 1 },
        { labels: { namespace: "shop", pod: "books-1" }, value: 1 },
      ],
      "trellis-controller": [{ labels: { namespace: "trellis", pod: "trellis-destination-1" }, value: 1 }],
    },
  };
}

const lines = (report: Report) =>
  report.categories.flatMap((c) =>
    c.checks.map((k) => `${k.result} ${k.description}${k.error ? `: ${k.error}` : ""}`),
  );

test("a healthy viz install passes every check", async () => {
  const report = await runChecks(VIZ_CATEGORIES, context(healthy()));
  assert.equal(report.success, true, lines(report).join("\n"));
  assert.deepEqual(
    report.categories.map((c) => c.categoryName),
    ["trellis-viz", "trellis-viz-data-plane"],
  );
  assert.ok(report.categories.every((c) => c.checks.every((k) => k.result === "success")));
});

test("Prometheus scaled to 0 fails the Deployment, pod and reachability lines, and nothing is asked of it after", async () => {
  const world = healthy();
  world.objects[`/apis/apps/v1/namespaces/${NS}/deployments/prometheus`] = {
    spec: { replicas: 0 },
    status: {},
  };
  world.objects[`/api/v1/namespaces/${NS}/pods`] = { items: [] };
  world.ready = {
    ok: false,
    status: 503,
    reason: 'HTTP 503: no endpoints available for service "prometheus"',
  };
  const report = await runChecks(VIZ_CATEGORIES, context(world));
  assert.equal(report.success, false);
  assert.deepEqual(
    lines(report).filter((l) => l.startsWith("error")),
    [
      "error prometheus Deployment is available: prometheus: scaled to 0 replicas",
      "error prometheus pod is running and ready: no prometheus pod in the namespace trellis-viz",
      `error prometheus is reachable through the API server: GET ${prometheusProxyPath(NS)}/-/ready: HTTP 503: no endpoints available for service "prometheus"`,
    ],
  );
  assert.deepEqual(
    report.categories.map((c) => c.categoryName),
    ["trellis-viz"],
  );
  const hint = report.categories[0]?.checks.find((k) => k.result === "error")?.hint ?? "";
  assert.match(hint, /kubectl -n trellis-viz scale deployment\/prometheus --replicas=1/);
});

test("a meshed pod Prometheus does not scrape, or finds down, fails the proxies line naming it", async () => {
  const world = healthy();
  world.up["trellis-proxy"] = [{ labels: { namespace: "shop", pod: "web-1" }, value: 0 }];
  const report = await runChecks(VIZ_CATEGORIES, context(world));
  const check = report.categories[1]?.checks[0];
  assert.equal(check?.result, "error");
  assert.equal(
    check?.error,
    "proxies not scraped (job trellis-proxy):\n  * shop/web-1: its target is down\n  * shop/books-1: not a target yet",
  );
  assert.match(
    check?.hint ?? "",
    /kubectl get --raw \/api\/v1\/namespaces\/trellis-viz\/services\/http:prometheus:9090\/proxy\/api\/v1\/targets/,
  );
});

test("a running control-plane pod Prometheus has not scraped yet fails the control-plane line, so --wait retries it", async () => {
  const world = healthy();
  world.up["trellis-controller"] = [];
  const report = await runChecks(VIZ_CATEGORIES, context(world));
  const check = report.categories[1]?.checks[1];
  assert.equal(check?.result, "error");
  assert.equal(
    check?.error,
    "control plane not scraped (job trellis-controller):\n  * trellis/trellis-destination-1: not a target yet",
  );
  world.up["trellis-controller"] = [
    { labels: { namespace: "trellis", pod: "trellis-destination-1" }, value: 0 },
  ];
  const down = await runChecks(VIZ_CATEGORIES, context(world));
  assert.equal(
    down.categories[1]?.checks[1]?.error,
    "control plane not scraped (job trellis-controller):\n  * trellis/trellis-destination-1: its target is down",
  );
});

test("nothing meshed and no control plane are warnings, not failures", async () => {
  const world = healthy();
  world.objects["/api/v1/pods"] = { items: [] };
  world.up = {};
  const report = await runChecks(VIZ_CATEGORIES, context(world));
  assert.equal(report.success, true);
  assert.deepEqual(
    lines(report).filter((l) => !l.startsWith("success")),
    [
      "warning prometheus is scraping every meshed pod's proxy: no running meshed pods to scrape yet",
      "warning prometheus is scraping the control plane: no control-plane pod is scraped: is Trellis installed?",
    ],
  );
});

test("missing objects are listed; without the namespace the run stops at its first line", async () => {
  const world = healthy();
  delete world.objects[`/api/v1/namespaces/${NS}/configmaps/prometheus-config`];
  delete world.objects["/apis/rbac.authorization.k8s.io/v1/clusterroles/trellis-trellis-viz-prometheus"];
  const missing = await runChecks(VIZ_CATEGORIES, context(world));
  assert.equal(
    missing.categories[0]?.checks[1]?.error,
    "missing:\n  * ClusterRole/trellis-trellis-viz-prometheus\n  * ConfigMap/prometheus-config",
  );
  delete world.objects[`/api/v1/namespaces/${NS}`];
  const none = await runChecks(VIZ_CATEGORIES, context(world));
  assert.deepEqual(lines(none), ["error viz namespace exists: the namespace trellis-viz does not exist"]);
});
