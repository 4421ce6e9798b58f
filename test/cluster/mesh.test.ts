/**
 * The whole day of a Linkerd user, on the test bed: `meshctl install` applied, `meshctl check` passing,
 * then a two-service app meshed twice, once by the injector webhook (an annotated namespace) and once
 * by `meshctl inject --manual`: a client calling an HTTP server through its Service name and a server
 * that speaks first (a MySQL-like greeting on 3306) reached through its ClusterIP. In each namespace:
 * every pod runs its proxy as a native sidecar after trellis-init's rules; requests flow; the server's
 * proxy counts them over mTLS with the client's SPIFFE ID; the TCP connection is opaque over mTLS; a
 * plaintext client outside the mesh cannot reach the app port; the apps' probes still pass; a meshed
 * Job completes; and uninject plus apply takes the proxy away.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { INIT_CONTAINER, PROXY_CONTAINER } from "../../lib/proxy-env.js";
import { type Run, meshctl as run } from "../support/meshctl.js";
import { sum } from "../support/metrics.js";
import { podGet } from "./harness/http.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";
import { installTrellis } from "./mesh.js";

let cluster: Cluster;

function meshctl(args: string[], stdin?: string): Promise<Run> {
  return run(args, {
    env: { KUBECONFIG: cluster.kubeconfigPath },
    timeoutMs: 300_000,
    ...(stdin !== undefined && { stdin }),
  });
}

async function meshctlOk(args: string[], stdin?: string): Promise<string> {
  const r = await meshctl(args, stdin);
  assert.equal(r.code, 0, `meshctl ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

before(async () => {
  cluster = await startCluster();
  await installTrellis(cluster);
  await meshctlOk(["check", "--wait=4m"]);
});
after(() => cluster?.stop());

/** The HTTP server: answers its pod name and the Host it saw on 8080, and health on 8081 for probes. */
const WEB = `
const http = require("node:http");
const pod = process.env.POD_NAME;
http.createServer((req, res) => res.end(JSON.stringify({ pod, host: req.headers.host }) + "\\n")).listen(8080);
http.createServer((req, res) => res.end("ok\\n")).listen(8081);
process.on("SIGTERM", () => process.exit(0));
`;

/** A server that speaks first, as MySQL or SMTP do: a greeting, then each line echoed upper-cased. */
const GREETER = `
const net = require("node:net");
net.createServer((s) => {
  s.write("220 greeter ready\\r\\n");
  s.setEncoding("utf8");
  s.on("data", (d) => s.write(d.toUpperCase()));
  s.on("error", () => {});
}).listen(3306);
process.on("SIGTERM", () => process.exit(0));
`;

/** A client of the greeter: connects to host:port, waits for the greeting, sends a line, prints both. */
const GREETER_CLIENT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const s = net.connect(Number(port), host);
let got = "";
s.setEncoding("utf8");
s.on("data", (d) => {
  got += d;
  if (got.includes("ready") && !got.includes("HELLO")) s.write("hello\\n");
  if (got.includes("HELLO")) { process.stdout.write(got); process.exit(0); }
});
s.on("error", (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => { console.error("timed out with " + JSON.stringify(got)); process.exit(1); }, 20000);
`;

function deployment(name: string, containers: object[], extra: object = {}): object {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { serviceAccountName: name, terminationGracePeriodSeconds: 2, containers, ...extra },
      },
    },
  };
}

const downward = [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }];

/** The app, as a user's manifests: ServiceAccounts, the two servers with Services, a client, a Job. */
function appManifests(): object[] {
  const sa = (name: string) => ({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name } });
  const service = (name: string, port: number, targetPort: number) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name },
    spec: { selector: { app: name }, ports: [{ name: name === "web" ? "http" : "tcp", port, targetPort }] },
  });
  return [
    sa("web"),
    sa("greeter"),
    sa("client"),
    service("web", 80, 8080),
    service("greeter", 3306, 3306),
    deployment("web", [
      {
        name: "web",
        image: "trellis.test/tools",
        command: ["node", "-e", WEB],
        env: downward,
        ports: [{ containerPort: 8080 }, { containerPort: 8081 }],
        readinessProbe: { httpGet: { path: "/", port: 8081 }, periodSeconds: 1 },
        livenessProbe: { httpGet: { path: "/", port: 8081 }, periodSeconds: 2 },
      },
    ]),
    deployment("greeter", [
      {
        name: "greeter",
        image: "trellis.test/tools",
        command: ["node", "-e", GREETER],
        ports: [{ containerPort: 3306 }],
      },
    ]),
    deployment("client", [{ name: "client", image: "trellis.test/tools", command: ["sleep", "infinity"] }]),
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "once" },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            serviceAccountName: "client",
            restartPolicy: "Never",
            containers: [
              {
                name: "once",
                image: "trellis.test/tools",
                // The Job starts with the app, before web may be ready: it tries for a bounded minute.
                command: [
                  "sh",
                  "-c",
                  "for i in $(seq 1 60); do curl -sf --max-time 5 http://web/ && exit 0; sleep 1; done; exit 1",
                ],
              },
            ],
          },
        },
      },
    },
  ];
}

function list(items: object[]): string {
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

/** The Ready pod of a Deployment (by its app label). */
function readyPod(namespace: string, app: string): Promise<V1Pod> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const labelSelector = `app=${app}`;
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    `${namespace}/${app} Ready`,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
      timeoutMs: 180_000,
    },
    (p) =>
      !p.metadata?.deletionTimestamp &&
      Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
}

/** What a plaintext HTTP/1.1 GET to ip:port gets back before the connection ends (bounded). */
function plaintextGet(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const socket = net.connect(port, ip, () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`),
    );
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      got += d;
    });
    socket.on("error", () => resolve(got));
    socket.on("close", () => resolve(got));
    socket.setTimeout(15_000, () => socket.destroy());
  });
}

function proxyMetrics(pod: V1Pod): Promise<string> {
  return podGet(`http://${pod.status?.podIP}:4191/metrics`);
}

/** Asserts a pod runs the proxy as a native sidecar after trellis-init. */
function assertMeshed(pod: V1Pod): void {
  const inits = pod.spec?.initContainers ?? [];
  const names = inits.map((c) => c.name);
  assert.ok(names.indexOf(INIT_CONTAINER) >= 0, `${pod.metadata?.name}: no ${INIT_CONTAINER} in ${names}`);
  const proxy = inits.find((c) => c.name === PROXY_CONTAINER);
  assert.equal(proxy?.restartPolicy, "Always", `${pod.metadata?.name}: the proxy is a native sidecar`);
  const init = pod.status?.initContainerStatuses?.find((s) => s.name === INIT_CONTAINER);
  assert.equal(init?.state?.terminated?.exitCode, 0, `${pod.metadata?.name}: trellis-init exited 0`);
}

async function exercise(namespace: string): Promise<void> {
  const [web, greeter, client] = await Promise.all([
    readyPod(namespace, "web"),
    readyPod(namespace, "greeter"),
    readyPod(namespace, "client"),
  ]);
  for (const pod of [web, greeter, client]) assertMeshed(pod);
  const clientName = client.metadata?.name ?? "";
  const clientId = `spiffe://cluster.local/ns/${namespace}/sa/client`;

  // HTTP by Service name: through both proxies, over mTLS, with the client's identity.
  const http = await cluster.node.exec(namespace, clientName, [
    "curl",
    "-sf",
    "--max-time",
    "20",
    "http://web/",
  ]);
  assert.equal(http.code, 0, http.stderr);
  assert.equal(JSON.parse(http.stdout).pod, web.metadata?.name);
  const webMetrics = await proxyMetrics(web);
  assert.ok(
    sum(webMetrics, "request_total", { direction: "inbound", tls: "true", client_id: clientId }) >= 1,
    `web's proxy counted no mTLS request from ${clientId}`,
  );

  // A server-speaks-first protocol through its ClusterIP: opaque over mTLS, the greeting not held up.
  const svc = await cluster.kubeConfig
    .makeApiClient(CoreV1Api)
    .readNamespacedService({ namespace, name: "greeter" });
  const tcp = await cluster.node.exec(namespace, clientName, [
    "node",
    "-e",
    GREETER_CLIENT,
    svc.spec?.clusterIP ?? "",
    "3306",
  ]);
  assert.equal(tcp.code, 0, tcp.stderr);
  assert.match(tcp.stdout, /^220 greeter ready\r\nHELLO\n$/);
  const greeterMetrics = await proxyMetrics(greeter);
  assert.ok(
    sum(greeterMetrics, "tcp_open_total", { direction: "inbound", tls: "true", client_id: clientId }) >= 1,
    `greeter's proxy counted no mTLS connection from ${clientId}:\n${greeterMetrics}`,
  );

  // From outside the mesh (this process, on the node), the app port gets no answer in plaintext; the
  // probes' port, left out of interception, does (the control that makes the refusal mean something).
  const podIP = web.status?.podIP ?? "";
  assert.doesNotMatch(
    await plaintextGet(podIP, 8080),
    /^HTTP\/1\.1 200/,
    "a plaintext client reached the app",
  );
  assert.match(await plaintextGet(podIP, 8081), /^HTTP\/1\.1 200/);

  // The meshed Job completes: its proxy stops once its app container has exited.
  await cluster.kubectl(["-n", namespace, "wait", "--for=condition=Complete", "--timeout=120s", "job/once"]);
}

test("meshed through the webhook: an annotated namespace", async () => {
  const ns = "shop";
  await cluster.kubectl(["create", "namespace", ns]);
  await cluster.kubectl(["annotate", "namespace", ns, "trellis.dev/inject=enabled"]);
  await cluster.kubectl(["-n", ns, "apply", "-f", "-"], { input: list(appManifests()) });
  await exercise(ns);

  // viz reads the meshed pods by direct scrape through the API server's pod proxy, while the client
  // sends a bounded run of requests.
  const client = await readyPod(ns, "client");
  const load = cluster.node.exec(
    ns,
    client.metadata?.name ?? "",
    ["sh", "-c", "for i in $(seq 1 60); do curl -s -o /dev/null --max-time 5 http://web/; sleep 0.2; done"],
    120_000,
  );
  const stat = await meshctl(["viz", "stat", "deploy", "-n", ns, "--direct", "-t", "5s", "-o", "json"]);
  await load;
  assert.equal(stat.code, 0, stat.stderr);
  const rows = JSON.parse(stat.stdout) as {
    name: string;
    meshed: string | null;
    rps: number;
    success: number | null;
  }[];
  const web = rows.find((r) => r.name === "web");
  assert.equal(web?.meshed, "1/1", stat.stdout);
  assert.ok((web?.rps ?? 0) > 0, `web shows no requests:\n${stat.stdout}`);
  assert.equal(web?.success, 1);
});

test("meshed with meshctl inject --manual; uninject and apply take the proxy away", async () => {
  const ns = "manual";
  await cluster.kubectl(["create", "namespace", ns]);
  const injected = await meshctlOk(
    ["inject", "--manual", `--kubeconfig=${cluster.kubeconfigPath}`, "-"],
    list(appManifests()),
  );
  await cluster.kubectl(["-n", ns, "apply", "-f", "-"], { input: injected });
  await exercise(ns);

  const current = await cluster.kubectl(["-n", ns, "get", "deployment", "web", "-o", "yaml"]);
  const plain = await meshctlOk(["uninject", "-"], current);
  await cluster.kubectl(["-n", ns, "apply", "-f", "-"], { input: plain });
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await waitForObject<V1Pod>(
    cluster.kubeConfig,
    "a web pod without the proxy, Ready",
    {
      path: `/api/v1/namespaces/${ns}/pods`,
      list: () => core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" }),
      labelSelector: "app=web",
      timeoutMs: 120_000,
    },
    (p) =>
      !p.metadata?.deletionTimestamp &&
      !(p.spec?.initContainers ?? []).some((c) => c.name === PROXY_CONTAINER) &&
      Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
});
