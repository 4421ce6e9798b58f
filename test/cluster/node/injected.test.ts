/**
 * What `meshctl inject --manual --skip-init` renders runs on the node stand-in: the proxy as a native
 * sidecar gets its certificate from the identity service (installed from `meshctl install`'s own
 * objects, without the destination service: a proxy is ready once certified), passes its startup
 * probe on the admin port's /ready, and only then does the app start; a meshed Job completes, its
 * proxy stopped after the app. Interception (trellis-init) and the rest of the mesh are the
 * end-to-end tests' business.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import { meshctlOk as meshctl } from "../../support/meshctl.js";
import {
  type Cluster,
  containerStatus,
  hasCondition,
  startCluster,
  TEST_IMAGE_PREFIX,
  waitForObject,
} from "../harness/index.js";

const NS = "shop";
/** The app's first words: the HTTP status of the proxy's /ready when the app started. */
const CHECK_PROXY = 'curl -sS -o /dev/null -w "%{http_code}\\n" http://127.0.0.1:4191/ready';

let cluster: Cluster;
let core: CoreV1Api;

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  // The namespace, trellis-config and the identity service's objects: what a proxy needs to start.
  const install = parseAllDocuments(await meshctl(["install"])).map((d) => d.toJS());
  const identity = install.filter(
    (o) => o.kind === "Namespace" || o.metadata.name === "trellis-config" || /identity/.test(o.metadata.name),
  );
  assert.ok(identity.some((o) => o.kind === "Deployment" && o.metadata.name === "trellis-identity"));
  await cluster.kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: identity }),
  });
  await cluster.createNamespace(NS);
});
after(() => cluster?.stop());

/** Renders `yaml` with `meshctl inject --manual --skip-init` against the cluster's installed config. */
function inject(yaml: string): Promise<string> {
  return meshctl(["inject", "--manual", "--skip-init", `--kubeconfig=${cluster.kubeconfigPath}`, "-"], {
    stdin: yaml,
  });
}

function waitForPods(what: string, labelSelector: string, ok: (p: V1Pod) => boolean): Promise<V1Pod> {
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    what,
    {
      path: `/api/v1/namespaces/${NS}/pods`,
      list: () => core.listNamespacedPod({ namespace: NS, labelSelector }),
      labelSelector,
      timeoutMs: 120_000,
    },
    ok,
  );
}

test("an injected Deployment's proxy runs as a native sidecar: certified, started, then the app", async () => {
  const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: web
          image: ${TEST_IMAGE_PREFIX}tools
          command: [sh, -c, '${CHECK_PROXY}; exec sleep infinity']
`;
  const injected = await inject(deployment);
  assert.match(injected, /restartPolicy: Always/);
  await cluster.kubectl(["apply", "-f", "-"], { input: injected });
  const pod = await waitForPods("a web pod Ready", "app=web", (p) => hasCondition(p, "Ready"));
  const name = pod.metadata?.name ?? "";

  assert.deepEqual(
    pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy]),
    [[PROXY_CONTAINER, "Always"]],
  );
  const proxy = containerStatus(pod, PROXY_CONTAINER);
  assert.ok(proxy?.state?.running, JSON.stringify(proxy));
  assert.equal(proxy?.started, true);
  assert.equal(proxy?.ready, true);
  assert.equal(proxy?.restartCount, 0, cluster.node.logs(NS, name, PROXY_CONTAINER));
  assert.match(
    cluster.node.logs(NS, name, PROXY_CONTAINER),
    /"ready":true,"identity":"spiffe:\/\/cluster\.local\/ns\/shop\/sa\/default"/,
  );
  // The app started after the proxy's startup probe passed: /ready answered 200 to its first request.
  assert.equal(cluster.node.logs(NS, name, "web").trim(), "200");
  assert.equal(containerStatus(pod, "web")?.started, true);
});

test("an injected Job completes: the app exits, then its proxy is stopped", async () => {
  const job = `
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: ${NS}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: report
          image: ${TEST_IMAGE_PREFIX}tools
          command: [sh, -c, '${CHECK_PROXY}']
`;
  await cluster.kubectl(["apply", "-f", "-"], { input: await inject(job) });
  const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
  await waitForObject<V1Job>(
    cluster.kubeConfig,
    "job report Complete",
    {
      path: `/apis/batch/v1/namespaces/${NS}/jobs`,
      list: () => batch.listNamespacedJob({ namespace: NS }),
      fieldSelector: "metadata.name=report",
      timeoutMs: 120_000,
    },
    (j) => Boolean(j.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True")),
  );
  const pod = await waitForPods("the report pod", "batch.kubernetes.io/job-name=report", () => true);
  assert.equal(pod.status?.phase, "Succeeded");
  assert.equal(cluster.node.logs(NS, pod.metadata?.name ?? "", "report").trim(), "200");
  const proxy = containerStatus(pod, PROXY_CONTAINER)?.state?.terminated;
  // The proxy drains on SIGTERM and exits 0; the app had exited before.
  assert.equal(proxy?.exitCode, 0, JSON.stringify(proxy));
  const app = containerStatus(pod, "report")?.state?.terminated;
  assert.ok(app?.finishedAt && proxy?.finishedAt && app.finishedAt <= proxy.finishedAt);
});
