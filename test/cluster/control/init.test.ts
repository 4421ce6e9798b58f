/**
 * trellis-init on the test bed: a Pod whose init container is exactly what the injector renders
 * (`initContainer()`, so its image, command and arguments cannot drift from these) runs the Trellis
 * image's `trellis-controller init` in the pod's network namespace before the app starts. Then the pod's
 * nat table holds the rules, the init container's log says what it chose, and another pod's connection
 * to the app's port is redirected to the proxy's inbound port.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { desiredRules, ownRules, ruleConfig } from "../../../control/init/index.js";
import { initContainer, xtablesVolume } from "../../../control/injector/proxy.js";
import { INIT_CONTAINER } from "../../../lib/proxy-env.js";
import { defaultInjectorConfig } from "../../support/install.js";
import { type Cluster, startCluster, TEST_IMAGE_PREFIX, TRELLIS_IMAGE } from "../harness/index.js";
import { waitForObject } from "../harness/wait.js";

const NS = "init";

/** Answers every connection with who it is (`app:4143`), as a stand-in for the proxy and the app. */
const LISTENER = `
const net = require("node:net");
for (const port of process.argv.slice(1))
  net.createServer((c) => { c.on("error", () => {}); c.end("app:" + port + "\\n"); }).listen(Number(port));`;

const CLIENT = `
const c = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
let data = "";
c.setTimeout(5000, () => { console.log("error:timeout"); process.exit(0); });
c.on("data", (d) => { data += d; });
c.on("end", () => { console.log(data.trim()); process.exit(0); });
c.on("error", (e) => { console.log("error:" + e.code); process.exit(0); });`;

let cluster: Cluster;
let core: CoreV1Api;

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
});
after(() => cluster?.stop());

function podReady(name: string): Promise<V1Pod> {
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    `pod ${NS}/${name} Ready`,
    {
      path: `/api/v1/namespaces/${NS}/pods`,
      list: () => core.listNamespacedPod({ namespace: NS }),
      fieldSelector: `metadata.name=${name}`,
    },
    (p) =>
      Boolean(p.status?.podIP) &&
      Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
}

test("the injected trellis-init container applies the pod's nat rules before the app starts", async () => {
  const config = defaultInjectorConfig();
  const init = initContainer(config, ["4190", "4191", "9000-9010"], ["5432"]);
  assert.equal(String(init.image).split(":")[0], TRELLIS_IMAGE);

  await cluster.createNamespace(NS);
  // The injector's objects are plain JSON: applied as they are, through kubectl.
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "app", namespace: NS },
    spec: {
      initContainers: [init],
      containers: [
        {
          name: "main",
          image: `${TEST_IMAGE_PREFIX}tools`,
          command: ["node", "-e", LISTENER, "4143", "8080"],
          ports: [{ containerPort: 8080 }],
        },
      ],
      volumes: [xtablesVolume()],
    },
  };
  await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: "client" },
      spec: { containers: [{ name: "main", image: `${TEST_IMAGE_PREFIX}tools` }] },
    },
  });
  const app = await podReady("app");
  await podReady("client");

  const log = cluster.node.logs(NS, "app", INIT_CONTAINER);
  const backend = /^trellis-init: iptables backend (nft|legacy) \(auto: /m.exec(log)?.[1];
  assert.ok(backend, log);
  assert.match(log, /^trellis-init: done$/m, log);

  const saved = await cluster.node.exec(NS, "app", [`iptables-${backend}-save`, "-t", "nat"]);
  assert.equal(saved.code, 0, saved.stderr);
  const own = ownRules(saved.stdout);
  const expected = desiredRules(
    ruleConfig({
      incomingProxyPort: 4143,
      outgoingProxyPort: 4140,
      proxyUid: config.proxyUid,
      inboundPortsToIgnore: [
        { low: 4190, high: 4190 },
        { low: 4191, high: 4191 },
        { low: 9000, high: 9010 },
      ],
      outboundPortsToIgnore: [{ low: 5432, high: 5432 }],
      iptablesMode: "auto",
      ipv6: "auto",
      dryRun: false,
    }),
    "ipv4",
  );
  assert.deepEqual(
    [...own.chains, ...[...own.jumps.values()].flat()].sort(),
    expected.toSorted(),
    saved.stdout,
  );

  // Another pod's connection to the app's port reaches what listens on the proxy's inbound port.
  const reply = await cluster.node.exec(NS, "client", [
    "node",
    "-e",
    CLIENT,
    app.status?.podIP ?? "",
    "8080",
  ]);
  assert.equal(reply.code, 0, reply.stderr);
  assert.equal(reply.stdout.trim(), "app:4143");
});
