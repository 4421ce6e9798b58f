/**
 * `meshctl install` on the test bed, as an operator runs it: `install --crds | kubectl apply -f -`, then
 * `install | kubectl apply -f -`, each applied twice (the second changes nothing), and the control plane
 * comes up as pods: identity certifies through TokenReview, the destination service gets its certificate
 * from identity with its projected token and turns ready once its informers have synced, and the
 * injector turns ready once it has read trellis-config and the namespaces.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AppsV1Api } from "@kubernetes/client-node";
import { meshctlOk as meshctl } from "../support/meshctl.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { controlPlanePodReady, NAMESPACE, outcomes } from "./mesh.js";

let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
});
after(() => cluster?.stop());

test("install --crds and install applied twice with kubectl: the second changes nothing, and identity, destination and the injector become ready", async () => {
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

  const [identity, destination, injector] = await Promise.all([
    controlPlanePodReady(cluster, "identity"),
    controlPlanePodReady(cluster, "destination"),
    controlPlanePodReady(cluster, "injector"),
  ]);
  for (const pod of [identity, destination, injector]) {
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
  for (const name of ["trellis-identity", "trellis-destination", "trellis-injector"]) {
    const d = await apps.readNamespacedDeployment({ name, namespace: NAMESPACE });
    assert.equal(d.metadata?.labels?.["trellis.dev/control-plane-ns"], NAMESPACE);
  }
});
