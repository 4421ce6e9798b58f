/**
 * `meshctl inject` against the test bed's API server: the installed config is read from the cluster's
 * ConfigMaps (`--kubeconfig`, or `--context` of $KUBECONFIG), and what inject prints is valid Kubernetes, as `kubectl apply
 * --dry-run=server` proves: every kind, the native sidecar and the legacy one, and the annotations.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { meshctlOk as meshctl } from "../support/meshctl.js";
import { type Cluster, startCluster } from "./harness/index.js";

const F = "test/fixtures/inject";

let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
});
after(() => cluster?.stop());

test("inject --manual reads the installed config from the cluster, and its output passes the API server's validation", async () => {
  // Only what inject reads of an install: the namespace and the two ConfigMaps (no pods to run).
  const install = parseAllDocuments(
    await meshctl([
      "install",
      "--identity-trust-anchors-file=test/fixtures/install/ca.crt",
      "--identity-issuer-certificate-file=test/fixtures/install/issuer.crt",
      "--identity-issuer-key-file=test/fixtures/install/issuer.key",
      "--proxy-cpu-request=30m",
    ]),
  ).map((d) => d.toJS());
  const config = install.filter(
    (o) =>
      o.kind === "Namespace" ||
      (o.kind === "ConfigMap" &&
        ["trellis-config", "trellis-identity-trust-roots"].includes(o.metadata.name)),
  );
  assert.equal(config.length, 3);
  await cluster.kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: config }),
  });
  await cluster.createNamespace("shop");

  const kube = `--kubeconfig=${cluster.kubeconfigPath}`;
  const inputs = [`${F}/web.yaml`, `${F}/kinds.yaml`, `${F}/list.json`];
  // --context alone reads $KUBECONFIG, as kubectl does.
  const context = cluster.kubeConfig.getCurrentContext();
  const [manual, legacy, annotated, byContext] = await Promise.all([
    meshctl(["inject", "--manual", kube, ...inputs]),
    meshctl(["inject", "--manual", "--legacy-sidecar", kube, ...inputs]),
    meshctl(["inject", ...inputs]),
    meshctl(["inject", "--manual", `--context=${context}`, ...inputs], {
      env: { KUBECONFIG: cluster.kubeconfigPath },
    }),
  ]);
  // The proxy's resources come from the cluster's trellis-config, not from install's defaults.
  assert.match(manual, /cpu: 30m/);
  assert.equal(byContext, manual, "--context reads the same cluster as --kubeconfig");
  for (const output of [manual, legacy, annotated]) {
    const report = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: output });
    const lines = report.trim().split("\n");
    assert.equal(lines.length, 12, report);
    for (const line of lines) assert.match(line, / (created|configured|unchanged) \(server dry run\)$/);
  }
});
