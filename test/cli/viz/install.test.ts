// meshctl viz install and uninstall as a user runs them: the built CLI's output pinned by golden
// files, the same objects as YAML and JSON, what each flag changes, and every bad flag one line and
// exit 2 with nothing on stdout.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Deployment, V1PodSpec } from "@kubernetes/client-node";
import { parse, parseAllDocuments } from "yaml";
import type { K8sObject } from "../../../cli/install/index.js";
import { assertGolden } from "../../support/golden.js";
import { meshctl } from "../../support/meshctl.js";

const THIS_FILE = "test/cli/viz/install.test.ts";

async function ok(args: string[]): Promise<string> {
  const run = await meshctl(args);
  assert.equal(run.code, 0, `meshctl ${args.join(" ")}: ${run.stderr}`);
  assert.equal(run.stderr, "");
  return run.stdout;
}

const objects = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject);
const find = <T = K8sObject>(all: K8sObject[], kind: string) =>
  all.find((o) => o.kind === kind) as unknown as T;

test("viz install and uninstall match the golden files; -o json is the same objects as one List", async () => {
  const [yaml, json, uninstall] = await Promise.all([
    ok(["viz", "install"]),
    ok(["viz", "install", "-o", "json"]),
    ok(["viz", "uninstall"]),
  ]);
  assertGolden("viz-install.yaml", yaml, THIS_FILE);
  assertGolden("viz-uninstall.yaml", uninstall, THIS_FILE);
  const list = JSON.parse(json) as { kind: string; items: K8sObject[] };
  assert.equal(list.kind, "List");
  assert.deepEqual(list.items, objects(yaml));
  assert.deepEqual(
    list.items.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      "Namespace/trellis-viz",
      "ServiceAccount/prometheus",
      "ClusterRole/trellis-trellis-viz-prometheus",
      "ClusterRoleBinding/trellis-trellis-viz-prometheus",
      "ConfigMap/prometheus-config",
      "Service/prometheus",
      "Deployment/prometheus",
    ],
  );
  for (const o of list.items) assert.equal(o.metadata.labels?.["trellis.dev/extension"], "viz");
  // Uninstall names the cluster-scoped objects and the namespace (which takes the rest), namespace last.
  assert.deepEqual(
    objects(uninstall).map((o) => `${o.kind}/${o.metadata.name}`),
    [
      "ClusterRoleBinding/trellis-trellis-viz-prometheus",
      "ClusterRole/trellis-trellis-viz-prometheus",
      "Namespace/trellis-viz",
    ],
  );
});

test("Prometheus runs least-privileged: read pods only, non-root, read-only root filesystem, data in an emptyDir", async () => {
  const all = objects(await ok(["viz", "install"]));
  assert.deepEqual(find<{ rules?: unknown }>(all, "ClusterRole").rules, [
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
  ]);
  const pod = find<V1Deployment>(all, "Deployment").spec?.template.spec as V1PodSpec;
  const [c] = pod.containers;
  assert.ok(c);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.notEqual(pod.securityContext?.runAsUser, 0);
  assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
  assert.match(c.image ?? "", /^prom\/prometheus:v3\./);
  const args = c.args ?? [];
  assert.ok(args.includes("--storage.tsdb.retention.time=6h"));
  assert.ok(c.readinessProbe && c.livenessProbe && c.resources?.requests && c.resources.limits);
  const data = c.volumeMounts?.find((m) => args.includes(`--storage.tsdb.path=${m.mountPath}`));
  assert.ok(data && pod.volumes?.find((v) => v.name === data.name)?.emptyDir !== undefined);
  const service = find<{ spec: { ports: { port: number }[] } }>(all, "Service");
  assert.equal(service.spec.ports[0]?.port, 9090);
});

test("the flags: another namespace moves every object and names the cluster-wide ones after it; the image, interval and retention land where Prometheus reads them", async () => {
  const all = objects(
    await ok([
      "viz",
      "install",
      "--namespace",
      "mesh-viz",
      "--prometheus-image",
      "registry.local/prom/prometheus:v3.5.0",
      "--scrape-interval",
      "30s",
      "--retention",
      "2h",
    ]),
  );
  for (const o of all)
    if (o.kind !== "Namespace" && !o.kind.startsWith("Cluster"))
      assert.equal(o.metadata.namespace, "mesh-viz");
  assert.equal(find(all, "ClusterRole").metadata.name, "trellis-mesh-viz-prometheus");
  assert.deepEqual(find<{ subjects?: unknown }>(all, "ClusterRoleBinding").subjects, [
    { kind: "ServiceAccount", name: "prometheus", namespace: "mesh-viz" },
  ]);
  const config = parse(
    find<{ data: Record<string, string> }>(all, "ConfigMap").data["prometheus.yml"] as string,
  );
  assert.equal(config.global.scrape_interval, "30s");
  const text = JSON.stringify(find(all, "Deployment"));
  assert.match(text, /registry\.local\/prom\/prometheus:v3\.5\.0/);
  assert.match(text, /--storage\.tsdb\.retention\.time=2h/);
  // A changed configuration changes the pod template, so applying it restarts Prometheus.
  const checksum = (yaml: string) =>
    JSON.stringify(find(objects(yaml), "Deployment")).match(/"trellis.dev\/config-checksum":"(\w+)"/)?.[1];
  const [a, b] = await Promise.all([
    ok(["viz", "install"]),
    ok(["viz", "install", "--scrape-interval", "20s"]),
  ]);
  assert.notEqual(checksum(a), checksum(b));
});

test("every bad flag is one line naming it, exit 2, nothing on stdout", async () => {
  const cases: [string[], RegExp][] = [
    [["--scrape-interval", "500ms"], /--scrape-interval.*at least 1s/],
    [["--scrape-interval", "often"], /--scrape-interval/],
    [["--retention", "30s"], /--retention.*at least 60s/],
    [["--retention", "1.5h"], /--retention/],
    [["--prometheus-image", "Not An Image"], /--prometheus-image.*image reference/],
    [["--namespace", "Viz_NS"], /--namespace/],
    [["-o", "xml"], /Allowed choices are yaml, json/],
  ];
  for (const [args, message] of cases) {
    const run = await meshctl(["viz", "install", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^[^\n]+\n$/);
    assert.match(run.stderr, message);
  }
});

test("--help shows how to install, check and use it", async () => {
  const help = await ok(["viz", "install", "--help"]);
  for (const text of [
    "meshctl viz install | kubectl apply -f -",
    "meshctl viz check",
    "--scrape-interval",
    "--retention",
  ])
    assert.ok(help.includes(text), `no "${text}" in:\n${help}`);
});
