/**
 * A rolling restart of a meshed backend under steady load, on the test bed: three web pods behind a
 * Service, a meshed client sending a bounded stream of requests by the Service's name, and
 * `kubectl rollout restart` replacing every pod while it does (pods terminating, EndpointSlices
 * changing, the destination service streaming the changes to the client's proxy). Without a retry
 * policy at least 99.9 % of requests succeed; with a ServiceProfile marking the route retryable, all do.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { sum } from "../support/metrics.js";
import { podGet } from "./harness/http.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { waitUntil } from "./harness/procs.js";
import { installTrellis, meshctlOn } from "./mesh.js";

const NS = "roll";
const REPLICAS = 3;

let cluster: Cluster;
let files: string;

/**
 * The backend, as a well-behaved app: answers its pod name on 8080 and health on 8081; on SIGTERM it
 * stops accepting connections, finishes what it has, and exits.
 */
const WEB = `
const http = require("node:http");
const pod = process.env.POD_NAME;
const app = http.createServer((req, res) => res.end(pod + "\\n")).listen(8080);
const health = http.createServer((req, res) => res.end("ok\\n")).listen(8081);
process.on("SIGTERM", () => {
  app.close(() => process.exit(0));
  health.close();
});
`;

/**
 * The load: WORKERS loops of GET http://web/ through the client's proxy (keep-alive, 5 s timeout
 * each), until the stop file exists, MAX_REQUESTS are sent or MAX_SECONDS pass; prints the counts.
 */
const LOAD = `
const http = require("node:http");
const fs = require("node:fs");
const [stopFile, maxSeconds, maxRequests] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const deadline = Date.now() + Number(maxSeconds) * 1000;
let sent = 0, ok = 0;
const failures = {};
const pods = {};
function once() {
  return new Promise((resolve) => {
    const req = http.get("http://web/", { agent, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, pod: body.trim(), why: res.headers["trellis-proxy-error"] }));
      res.on("error", (e) => resolve({ status: e.code || e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: e.code || e.message }));
  });
}
async function worker() {
  while (!fs.existsSync(stopFile) && Date.now() < deadline && sent < Number(maxRequests)) {
    sent++;
    const r = await once();
    if (r.status === 200) { ok++; pods[r.pod] = (pods[r.pod] || 0) + 1; }
    else { const k = r.why ? r.status + " " + r.why : r.status; failures[k] = (failures[k] || 0) + 1; }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
Promise.all([worker(), worker(), worker(), worker()]).then(() => {
  process.stdout.write(JSON.stringify({ sent, ok, failures, pods }) + "\\n");
  process.exit(0);
});
`;

interface LoadResult {
  sent: number;
  ok: number;
  failures: Record<string, number>;
  pods: Record<string, number>;
}

function manifests(): object[] {
  const sa = (name: string) => ({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name } });
  const downward = [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }];
  return [
    sa("web"),
    sa("client"),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            serviceAccountName: "web",
            terminationGracePeriodSeconds: 10,
            containers: [
              {
                name: "web",
                image: "trellis.test/tools",
                command: ["node", "-e", WEB],
                env: downward,
                ports: [{ containerPort: 8080 }, { containerPort: 8081 }],
                readinessProbe: { httpGet: { path: "/", port: 8081 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "client" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "client" } },
        template: {
          metadata: { labels: { app: "client" } },
          spec: {
            serviceAccountName: "client",
            terminationGracePeriodSeconds: 2,
            containers: [{ name: "client", image: "trellis.test/tools", command: ["sleep", "infinity"] }],
          },
        },
      },
    },
  ];
}

/** Waits until exactly `count` pods of the app are Ready and none of them is terminating. */
async function readyPods(app: string, count: number): Promise<V1Pod[]> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const ready = (p: V1Pod) =>
    !p.metadata?.deletionTimestamp &&
    Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  let pods: V1Pod[] = [];
  await waitUntil(
    `${count} ${NS}/${app} pods Ready`,
    async () => {
      pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items;
      return pods.length === count && pods.every(ready);
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  return pods;
}

before(async () => {
  cluster = await startCluster();
  files = mkdtempSync(join(tmpdir(), "trellis-rolling-"));
  await installTrellis(cluster);
  const check = await meshctlOn(cluster, ["check", "--wait=4m"]);
  assert.equal(check.code, 0, check.stdout);
  await cluster.kubectl(["create", "namespace", NS]);
  await cluster.kubectl(["annotate", "namespace", NS, "trellis.dev/inject=enabled"]);
  await cluster.kubectl(["-n", NS, "apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: manifests() }),
  });
  await readyPods("web", REPLICAS);
  await readyPods("client", 1);
});
after(async () => {
  if (files) rmSync(files, { recursive: true, force: true });
  await cluster?.stop();
});

/** Runs the load from the client pod across a rolling restart of web, and returns its counts. */
async function loadAcrossRestart(name: string): Promise<LoadResult> {
  const [client] = await readyPods("client", 1);
  const before = new Set((await readyPods("web", REPLICAS)).map((p) => p.metadata?.name));
  const stopFile = join(files, `${name}.stop`);
  const load = cluster.node.exec(
    NS,
    client?.metadata?.name ?? "",
    ["node", "-e", LOAD, stopFile, "240", "20000"],
    300_000,
  );
  // Load flows before the restart begins and after it ends, so both edges are measured.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await cluster.kubectl(["-n", NS, "rollout", "restart", "deployment/web"]);
  await cluster.kubectl(["-n", NS, "rollout", "status", "deployment/web", "--timeout=180s"], {
    timeoutMs: 200_000,
  });
  const now = await readyPods("web", REPLICAS);
  assert.ok(
    now.every((p) => !before.has(p.metadata?.name)),
    "the rollout replaced every web pod",
  );
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  writeFileSync(stopFile, "");
  const r = await load;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(stopFile));
  const result = JSON.parse(r.stdout) as LoadResult;
  // Requests reached old and new pods alike: the load spanned the whole rollout.
  for (const p of now)
    assert.ok((result.pods[p.metadata?.name ?? ""] ?? 0) > 0, `no request reached ${p.metadata?.name}`);
  assert.ok(
    [...before].some((p) => (result.pods[p ?? ""] ?? 0) > 0),
    "no request reached an old pod",
  );
  return result;
}

function describe(r: LoadResult): string {
  const rate = ((r.ok / r.sent) * 100).toFixed(3);
  return `${r.sent} requests, ${r.ok} succeeded (${rate} %), failures ${JSON.stringify(r.failures)}`;
}

test("a rolling restart under load without a retry policy: at least 99.9 % of requests succeed", async (t) => {
  const r = await loadAcrossRestart("plain");
  t.diagnostic(describe(r));
  assert.ok(r.sent >= 500, `only ${r.sent} requests were sent`);
  assert.ok(r.ok / r.sent >= 0.999, describe(r));
});

test("a rolling restart under load with the route retryable: every request succeeds", async (t) => {
  const profile = {
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: `web.${NS}.svc.cluster.local`, namespace: NS },
    spec: {
      routes: [{ name: "GET /", condition: { method: "GET", pathRegex: "/" }, isRetryable: true }],
      retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: "10s" },
    },
  };
  await cluster.kubectl(["-n", NS, "apply", "-f", "-"], { input: JSON.stringify(profile) });
  // The client's proxy has the profile once a request is counted on its route.
  const [client] = await readyPods("client", 1);
  const ip = client?.status?.podIP ?? "";
  const deadline = Date.now() + 60_000;
  for (;;) {
    await cluster.node.exec(NS, client?.metadata?.name ?? "", [
      "curl",
      "-sf",
      "--max-time",
      "5",
      "http://web/",
    ]);
    const metrics = await podGet(`http://${ip}:4191/metrics`);
    if (sum(metrics, "route_request_total", { rt_route: "GET /" }) > 0) break;
    assert.ok(Date.now() < deadline, "the client's proxy never used the ServiceProfile's route");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const r = await loadAcrossRestart("retryable");
  t.diagnostic(describe(r));
  assert.ok(r.sent >= 500, `only ${r.sent} requests were sent`);
  assert.equal(r.ok, r.sent, describe(r));
});
