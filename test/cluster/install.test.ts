/**
 * `meshctl install` on the test bed, as an operator runs it: `install --crds | kubectl apply -f -`, then
 * `install | kubectl apply -f -`, each applied twice (the second changes nothing), and the control plane
 * comes up as pods: identity certifies through TokenReview, the destination service gets its certificate
 * from identity with its projected token and turns ready once its informers have synced.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AppsV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { meshctlOk as meshctl } from "../support/meshctl.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";

const NAMESPACE = "trellis";

let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
});
after(() => cluster?.stop());

/** kubectl apply's report, one line per object: `<kind>/<name> created|configured|unchanged`. */
function outcomes(report: string): string[] {
  return report
    .trim()
    .split("\n")
    .map((l) => l.trim());
}

function podReady(component: string): Promise<V1Pod> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const labelSelector = `trellis.dev/control-plane-component=${component}`;
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    `a ${component} pod Ready`,
    {
      path: `/api/v1/namespaces/${NAMESPACE}/pods`,
      list: () => core.listNamespacedPod({ namespace: NAMESPACE, labelSelector }),
      labelSelector,
      timeoutMs: 120_000,
    },
    (p) => Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
}

test("install --crds and install applied twice with kubectl: the second changes nothing, and identity and destination become ready", async () => {
  const [crds, install] = await Promise.all([meshctl(["install", "--crds"]), meshctl(["install"])]);

  const firstCrds = outcomes(await cluster.kubectl(["apply", "-f", "-"], { input: crds }));
  assert.ok(
    firstCrds.every((l) => l.endsWith(" created")),
    firstCrds.join("\n"),
  );
  await cluster.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "customresourcedefinition/serviceprofiles.trellis.dev",
    "customresourcedefinition/trafficsplits.split.smi-spec.io",
  ]);
  const first = outcomes(await cluster.kubectl(["apply", "-f", "-"], { input: install }));
  assert.ok(
    first.every((l) => l.endsWith(" created")),
    first.join("\n"),
  );

  const [secondCrds, second] = [
    outcomes(await cluster.kubectl(["apply", "-f", "-"], { input: crds })),
    outcomes(await cluster.kubectl(["apply", "-f", "-"], { input: install })),
  ];
  for (const line of [...secondCrds, ...second])
    assert.match(line, / unchanged$/, "the second apply changes nothing");
  assert.equal(second.length, first.length);

  const [identity, destination] = await Promise.all([podReady("identity"), podReady("destination")]);
  for (const pod of [identity, destination]) {
    const restarts = pod.status?.containerStatuses?.reduce((n, c) => n + c.restartCount, 0) ?? 0;
    assert.equal(
      restarts,
      0,
      `${pod.metadata?.name}: ${cluster.node.logs(NAMESPACE, pod.metadata?.name ?? "", pod.spec?.containers[0]?.name ?? "")}`,
    );
  }
  // The destination's ready line names the identity identity issued it: mutual TLS is on.
  const log = cluster.node.logs(NAMESPACE, destination.metadata?.name ?? "", "destination");
  assert.match(
    log,
    /"ready":true.*"identity":"spiffe:\/\/cluster\.local\/ns\/trellis\/sa\/trellis-destination"/,
  );

  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  for (const name of ["trellis-identity", "trellis-destination"]) {
    const d = await apps.readNamespacedDeployment({ name, namespace: NAMESPACE });
    assert.equal(d.metadata?.labels?.["trellis.dev/control-plane-ns"], NAMESPACE);
  }
});
