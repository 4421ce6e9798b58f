/**
 * viz in a cluster, on one test bed, as an operator meets it: `viz check` fails before the install;
 * `meshctl viz install | kubectl apply` is accepted, its Prometheus (the official image, run here as
 * this machine's Prometheus) becomes Ready and `viz check` passes. Then meshed pods with real traffic
 * (`meshctl inject --manual --skip-init --legacy-sidecar`: a server and a bounded load client whose
 * proxies talk mTLS): `viz stat` from Prometheus through the API server's service proxy and from the
 * direct scrape through its pod proxy agree within the tolerance of the loopback test, `viz edges`
 * shows the identities from both, and bad input gets one line. Prometheus scaled to 0 fails `viz
 * check` with its hint while `--direct` still reads the proxies; uninstalled, viz falls back to the
 * direct scrape by itself.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { VIZ_CATEGORIES } from "../../cli/viz/check.js";
import { type Run, meshctl as run } from "../support/meshctl.js";
import { RPS_TOLERANCE, SUCCESS_TOLERANCE, WINDOW_SCRAPES } from "../support/prometheus.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { waitUntil } from "./harness/procs.js";

const VIZ_NS = "trellis-viz";
const APPS = "apps";
const WAIT = "2m";
/** The scrape interval the test installs with, and the window that is WINDOW_SCRAPES of them. */
const SCRAPE_INTERVAL_S = 2;
const WINDOW = `${SCRAPE_INTERVAL_S * WINDOW_SCRAPES}s`;
/** The load: at most COUNT requests at about RPS, stopped after MAX_MS whatever is left. */
const LOAD = { count: 3000, rps: 20, maxMs: 150_000 };

let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
});
after(() => cluster?.stop());

function meshctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run(args, { env: { KUBECONFIG: cluster.kubeconfigPath, ...env }, timeoutMs: 180_000 });
}

async function ok(args: string[]): Promise<string> {
  const r = await meshctl(args);
  assert.equal(r.code, 0, `meshctl ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function apply(yaml: string): Promise<void> {
  await cluster.kubectl(["apply", "-f", "-"], { input: yaml });
}

/** The hint a viz check prints, read from the check's own data. */
function hintOf(description: string): string {
  const check = VIZ_CATEGORIES.flatMap((c) => c.checks).find((c) => c.description === description);
  assert.ok(check, `no check "${description}"`);
  return check.hint.replaceAll("<namespace>", VIZ_NS);
}

/** Asserts the check report failed on `× description` with its error and, last, its hint. */
function assertFailedOn(r: Run, description: string, errorPattern: RegExp): void {
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split("\n");
  const at = lines.indexOf(`× ${description}`);
  assert.ok(at >= 0, `no "× ${description}" line in:\n${r.stdout}`);
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !l.startsWith("    "));
  const detail = rest.slice(0, end < 0 ? rest.length : end);
  assert.match(detail.join("\n"), errorPattern, r.stdout);
  assert.equal(detail.at(-1), `    hint: ${hintOf(description)}`, r.stdout);
  assert.match(r.stdout, /Status check results are ×\n$/);
}

function oneLine(r: Run, code: number, message: RegExp): void {
  assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^meshctl: [^\n]+\n$/, `one line: ${r.stderr}`);
  assert.match(r.stderr, message);
}

/** The load client: HTTP through its own proxy's outbound port, bounded in count and time. */
function loadScript(authority: string): string {
  return `
const http = require("node:http");
const { count, rps, maxMs } = ${JSON.stringify(LOAD)};
const deadline = Date.now() + maxMs;
let ok = 0, failed = 0, started = false;
const one = () => new Promise((done) => {
  const req = http.get({ host: "127.0.0.1", port: 4140, path: "/", headers: { host: ${JSON.stringify(authority)} } }, (res) => {
    res.resume();
    res.on("end", () => {
      if (res.statusCode < 500) ok++; else failed++;
      if (!started && res.statusCode < 500) { started = true; console.log("load: first response"); }
      done();
    });
  });
  req.setTimeout(5000, () => req.destroy(new Error("timeout")));
  req.on("error", () => { failed++; done(); });
});
(async () => {
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    void one();
    await new Promise((r) => setTimeout(r, 1000 / rps));
  }
  console.log("load: done " + JSON.stringify({ ok, failed }));
  // Stay up: the Deployment would restart a container that exits, and the load with it.
  setInterval(() => {}, 1 << 30);
})();
`;
}

/** The app before injection: a server behind a Service, and the load client. */
function appYaml(): string {
  const deployment = (name: string, container: Record<string, unknown>) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: APPS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [container] } },
    },
  });
  return [
    deployment("server", {
      name: "echo",
      image: "trellis.test/echo:latest",
      ports: [{ name: "http", containerPort: 8080 }],
    }),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "server", namespace: APPS },
      spec: { selector: { app: "server" }, ports: [{ name: "http", port: 8080, targetPort: 8080 }] },
    },
    deployment("client", {
      name: "load",
      image: "trellis.test/tools:latest",
      command: ["node", "-e", loadScript(`server.${APPS}.svc.cluster.local:8080`)],
    }),
  ]
    .map((o) => `---\n${stringify(o)}`)
    .join("");
}

async function podOf(app: string): Promise<string> {
  const name = await cluster.kubectl([
    "-n",
    APPS,
    "get",
    "pods",
    "-l",
    `app=${app}`,
    "-o",
    "jsonpath={.items[0].metadata.name}",
  ]);
  assert.ok(name, `no pod of ${app}`);
  return name;
}

interface StatJson {
  name: string;
  meshed: string;
  success: number | null;
  rps: number;
}

test("viz check fails before viz install; the install is accepted, Prometheus becomes Ready and viz check passes", async () => {
  await apply(await ok(["install", "--crds"]));
  await apply(await ok(["install"]));
  await ok(["check", "--wait", WAIT]);

  assertFailedOn(
    await meshctl(["viz", "check"]),
    "viz namespace exists",
    /the namespace trellis-viz does not exist/,
  );

  await apply(await ok(["viz", "install", "--scrape-interval", `${SCRAPE_INTERVAL_S}s`]));
  await cluster.kubectl(["-n", VIZ_NS, "rollout", "status", "deployment/prometheus", "--timeout=120s"]);
  const check = await meshctl(["viz", "check", "--wait", WAIT]);
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  for (const line of [
    "√ prometheus is reachable through the API server",
    "√ prometheus is scraping the control plane",
    "‼ prometheus is scraping every meshed pod's proxy",
  ])
    assert.ok(check.stdout.split("\n").includes(line), `no "${line}" in:\n${check.stdout}`);
});

test("meshed pods under load: viz stat from Prometheus through the API server and from the pod proxies agree; edges show mTLS; bad input is one line", async (t) => {
  await cluster.createNamespace(APPS);
  const files = mkdtempSync(join(tmpdir(), "trellis-viz-"));
  writeFileSync(join(files, "app.yaml"), appYaml());
  await apply(
    await ok([
      "inject",
      "--manual",
      "--skip-init",
      "--legacy-sidecar",
      `--kubeconfig=${cluster.kubeconfigPath}`,
      join(files, "app.yaml"),
    ]),
  );
  await cluster.kubectl([
    "-n",
    APPS,
    "rollout",
    "status",
    "deployment/server",
    "deployment/client",
    "--timeout=120s",
  ]);
  const client = await podOf("client");
  await waitUntil(
    "the load client's first response",
    async () => cluster.node.logs(APPS, client, "load").includes("load: first response"),
    { timeoutMs: 60_000 },
  );
  // Prometheus finds both proxies and scrapes them.
  const check = await meshctl(["viz", "check", "--wait", WAIT]);
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  assert.ok(check.stdout.includes("√ prometheus is scraping every meshed pod's proxy"), check.stdout);

  const stat = async (...extra: string[]) => {
    const r = await meshctl([
      "viz",
      "stat",
      "deploy/server",
      "-n",
      APPS,
      "-t",
      WINDOW,
      "-o",
      "json",
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as StatJson[];
    assert.equal(rows.length, 1, r.stdout);
    return rows[0] as StatJson;
  };
  // The same traffic, one window after the other: the direct scrape, then Prometheus's last window.
  const direct = await stat("--direct");
  const prom = await stat();
  t.diagnostic(`direct ${JSON.stringify(direct)} / Prometheus ${JSON.stringify(prom)}`);
  for (const row of [direct, prom]) {
    assert.equal(row.name, "server");
    assert.equal(row.meshed, "1/1");
    assert.equal(row.success, 1, "the echo server never fails");
    assert.ok(row.rps > LOAD.rps / 4, `the load was counted: ${row.rps} rps`);
  }
  assert.ok(
    Math.abs(direct.rps - prom.rps) <= RPS_TOLERANCE * direct.rps,
    `RPS: direct ${direct.rps}, Prometheus ${prom.rps}`,
  );
  assert.ok(Math.abs((direct.success ?? 0) - (prom.success ?? 0)) <= SUCCESS_TOLERANCE);

  // Edges: client → server over mTLS, the server's identity as the client's proxy verified it.
  for (const extra of [[], ["--direct"]]) {
    const edges = JSON.parse(await ok(["viz", "edges", "deploy", "-n", APPS, "-o", "json", ...extra])) as {
      src: string;
      dst: string;
      secured: boolean;
      server_id: string;
    }[];
    const edge = edges.find((e) => e.src === "client" && e.dst === "server");
    assert.deepEqual(edge && [edge.secured, edge.server_id], [
      true,
      `spiffe://cluster.local/ns/${APPS}/sa/default`,
    ]);
  }
  // The raw metrics behind those rows, read from the server's proxy through the pod proxy.
  const raw = await ok(["diagnostics", "proxy-metrics", "-n", APPS, "deploy/server"]);
  assert.match(raw, new RegExp(`^# POD ${APPS}/server-[a-z0-9-]+ \\(1 of 1\\)$`, "m"));
  assert.match(
    raw,
    /^request_total\{[^}]*direction="inbound"[^}]*client_id="spiffe:\/\/[^"]+"[^}]*\} [1-9]/m,
  );
  oneLine(
    await meshctl(["diagnostics", "proxy-metrics", "-n", APPS, "deploy/nope"]),
    1,
    /no pods of deployment apps\/nope/,
  );
  const table = await ok(["viz", "stat", "deploy", "-n", APPS, "-t", WINDOW]);
  assert.match(
    table,
    /^NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP_CONN$/m,
  );
  assert.match(table, /^client\s+1\/1/m);
  assert.match(table, /^server\s+1\/1\s+100\.00%/m);

  // Bad input: an unknown name (both sources), a window under the scrape interval, an unknown
  // namespace, and an API server that cannot be reached.
  for (const extra of [[], ["--direct"]])
    oneLine(
      await meshctl(["viz", "stat", "deploy/nope", "-n", APPS, "-t", "4s", ...extra]),
      1,
      /deploy\/nope not found in namespace apps/,
    );
  oneLine(
    await meshctl(["viz", "stat", "deploy", "-n", APPS, "-t", "1s"]),
    2,
    /-t 1s is under Prometheus's scrape interval \(2s\)/,
  );
  oneLine(
    await meshctl(["viz", "stat", "deploy", "-n", "nowhere"]),
    1,
    /the namespace nowhere does not exist/,
  );
  const dead = join(files, "dead-kubeconfig");
  writeFileSync(
    dead,
    `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`,
  );
  for (const args of [
    ["viz", "stat", "deploy", "-n", APPS],
    ["viz", "check"],
  ])
    oneLine(
      await meshctl(args, { KUBECONFIG: dead }),
      1,
      /cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1: connection refused/,
    );
});

test("Prometheus scaled to 0: viz check fails with its hint and viz stat in one line, while --direct still reads the proxies; uninstalled, viz scrapes the proxies by itself", async () => {
  await cluster.kubectl(["-n", VIZ_NS, "scale", "deployment/prometheus", "--replicas=0"]);
  await cluster.kubectl([
    "-n",
    VIZ_NS,
    "wait",
    "--for=delete",
    "pod",
    "-l",
    "trellis.dev/viz-component=prometheus",
    "--timeout=60s",
  ]);
  const check = await meshctl(["viz", "check"]);
  assertFailedOn(check, "prometheus Deployment is available", /prometheus: scaled to 0 replicas/);
  assertFailedOn(check, "prometheus is reachable through the API server", /HTTP 503: no endpoints available/);
  assert.doesNotMatch(
    check.stdout,
    /trellis-viz-data-plane/,
    "nothing is asked of a Prometheus that is not there",
  );
  oneLine(
    await meshctl(["viz", "stat", "deploy", "-n", APPS, "-t", WINDOW]),
    1,
    /the viz Prometheus .* is unreachable \(HTTP 503: no endpoints available.*\); see `meshctl viz check`, or read the proxies themselves with --direct/,
  );
  const direct = JSON.parse(
    await ok(["viz", "stat", "deploy", "-n", APPS, "-t", "4s", "--direct", "-o", "json"]),
  ) as StatJson[];
  assert.deepEqual(
    direct.map((r) => [r.name, r.meshed]),
    [
      ["client", "1/1"],
      ["server", "1/1"],
    ],
  );

  await cluster.kubectl(["-n", VIZ_NS, "scale", "deployment/prometheus", "--replicas=1"]);
  assert.equal((await meshctl(["viz", "check", "--wait", WAIT])).code, 0);

  await cluster.kubectl(["delete", "-f", "-", "--wait=true"], { input: await ok(["viz", "uninstall"]) });
  const fallback = JSON.parse(
    await ok(["viz", "stat", "deploy", "-n", APPS, "-t", "4s", "-o", "json"]),
  ) as StatJson[];
  assert.deepEqual(
    fallback.map((r) => r.name),
    ["client", "server"],
  );
});
