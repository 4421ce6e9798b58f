// meshctl inject and uninject as a user runs them: the built CLI (npm run build first), its stdout,
// stderr and exit code. Golden files pin the output for the inputs in test/fixtures/inject/; every
// refusal exits non-zero with nothing on stdout.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { assertGolden } from "../../support/golden.js";
import { type Run, meshctl as run } from "../../support/meshctl.js";
import { repoRoot } from "../../support/process.js";

const THIS_FILE = "test/cli/commands/inject.test.ts";
const F = "test/fixtures/inject";
const ANCHORS = "--identity-trust-anchors-file=test/fixtures/install/ca.crt";

/** `meshctl <args>` from the repository's root, with `stdin` piped in. */
const meshctl = (args: string[], stdin = ""): Promise<Run> => run(args, { stdin });

async function ok(args: string[], stdin?: string): Promise<Run> {
  const run = await meshctl(args, stdin);
  assert.equal(run.code, 0, `meshctl ${args.join(" ")}: ${run.stderr}`);
  return run;
}

/** A refused run: the exit code, nothing on stdout, and one line on stderr matching `message`. */
async function refused(args: string[], code: number, message: RegExp, stdin?: string): Promise<void> {
  const run = await meshctl(args, stdin);
  assert.equal(run.code, code, `meshctl ${args.join(" ")}: ${run.stderr}`);
  assert.equal(run.stdout, "", "nothing half-written on stdout");
  assert.match(run.stderr, message);
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
}

const read = (path: string) => readFileSync(`${repoRoot}${path}`, "utf8");

test("inject matches the golden files: annotating, --manual, --legacy-sidecar --skip-init, every kind", async () => {
  const [plain, manual, legacy, kinds] = await Promise.all([
    ok(["inject", `${F}/web.yaml`]),
    ok(["inject", "--manual", ANCHORS, `${F}/web.yaml`]),
    ok(["inject", "--manual", "--legacy-sidecar", "--skip-init", ANCHORS, `${F}/web.yaml`]),
    ok(["inject", "--manual", ANCHORS, `${F}/kinds.yaml`]),
  ]);
  assertGolden("inject/web.yaml", plain.stdout, THIS_FILE);
  assertGolden("inject/web.report.txt", plain.stderr, THIS_FILE);
  assertGolden("inject/web-manual.yaml", manual.stdout, THIS_FILE);
  assertGolden("inject/web-manual.report.txt", manual.stderr, THIS_FILE);
  assertGolden("inject/web-legacy-skip-init.yaml", legacy.stdout, THIS_FILE);
  assertGolden("inject/kinds-manual.yaml", kinds.stdout, THIS_FILE);
});

test("comments, key order and document separators survive; only the pod template changes", async () => {
  const { stdout } = await ok(["inject", `${F}/web.yaml`]);
  const input = read(`${F}/web.yaml`);
  for (const kept of [
    "# The shop's web front end",
    "labels: {app: web} # kept as written",
    "- name: web # the app",
    "# Configuration passes through unchanged.",
    "# per-workload proxy settings",
  ])
    assert.ok(stdout.includes(kept), kept);
  assert.equal(stdout.split("\n---\n").length, input.split("\n---\n").length);
  // The only difference is the one annotation.
  const added = stdout.split("\n").filter((l) => !input.split("\n").includes(l));
  assert.deepEqual(added, ["        trellis.dev/inject: enabled"]);
});

test("injecting injected output changes nothing, and uninject gives back the input byte for byte", async () => {
  for (const flags of [[], ["--manual", ANCHORS], ["--manual", "--legacy-sidecar", ANCHORS]]) {
    const once = (await ok(["inject", ...flags, `${F}/web.yaml`])).stdout;
    const twice = (await ok(["inject", ...flags, "-"], once)).stdout;
    assert.equal(twice, once, `inject ${flags.join(" ")} twice`);
    const back = await ok(["uninject", "-"], once);
    assert.equal(back.stdout, read(`${F}/web.yaml`), `uninject after inject ${flags.join(" ")}`);
    assert.match(back.stderr, /deployment "web" uninjected\nservice "web" skipped: not injected/);
  }
});

test("JSON in, JSON out; a List's items are injected one by one", async () => {
  const { stdout, stderr } = await ok(["inject", "--manual", ANCHORS, `${F}/list.json`]);
  assertGolden("inject/list-manual.json", stdout, THIS_FILE);
  const list = JSON.parse(stdout);
  assert.equal(list.items[0].metadata.annotations["trellis.dev/inject"], "enabled");
  assert.equal(list.items[1].spec.initContainers[1].name, "trellis-proxy");
  assert.match(stderr, /namespace "shop" annotated\npod "books" injected/);
  const back = await ok(["uninject", "-"], stdout);
  assert.deepEqual(JSON.parse(back.stdout), JSON.parse(read(`${F}/list.json`)));
});

test("a directory is read recursively (.yaml, .yml, .json only), and - reads stdin", async () => {
  const dir = await ok(["inject", `${F}/dir`]);
  assert.match(dir.stderr, /pod "a" injected\npod "b" injected/);
  assert.equal(dir.stdout.split("\n---\n").length, 2);
  const piped = await ok(["inject", "-"], read(`${F}/dir/a.yaml`));
  assert.match(piped.stdout, /trellis.dev\/inject: enabled/);
  assert.match(piped.stderr, /pod "a" injected/);
});

test("the report: warnings with ‼ first, then one line per object, on stderr only", async () => {
  const { stdout, stderr } = await ok(["inject", "--manual", ANCHORS, `${F}/warnings.yaml`]);
  assert.ok(!stdout.includes("‼"));
  assert.match(stderr, /^\n‼ deployment\/dns: uses "protocol: UDP" \(port 53\)/);
  assert.match(stderr, /‼ deployment\/dns: sets automountServiceAccountToken: false/);
  assert.match(stderr, /‼ deployment\/legacy: "trellis.dev\/inject: disabled" annotation set/);
  assert.match(
    stderr,
    /\n\ndeployment "dns" injected\ndeployment "legacy" skipped: annotated "trellis.dev\/inject: disabled"\n\n$/,
  );
  const none = await ok(["inject", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  assert.match(none.stderr, /‼ no supported objects found/);
  assert.equal(none.stdout, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
});

test("refusals exit non-zero with one clear line and nothing on stdout", async () => {
  const pod = (extra: string, ns = "shop") =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ${ns}}\nspec:\n  containers:\n    - {name: app, image: x}\n${extra}`;
  await Promise.all([
    refused(
      ["inject", "-"],
      1,
      /^meshctl: <stdin>:3:9: invalid YAML: Nested mappings/,
      "kind: Pod\nmetadata:\n  name: p\n   bad: [\n",
    ),
    refused(["inject", `${F}/web.yaml`, "-"], 1, /<stdin>:1:\d+: invalid YAML/, "{ not: json"),
    refused(["inject", "-"], 1, /pod\/p: hostNetwork is enabled/, pod("  hostNetwork: true\n")),
    refused(
      ["inject", "-"],
      1,
      /pod\/p: the pod already carries Istio's sidecar "istio-proxy"/,
      pod("    - {name: istio-proxy, image: istio}\n"),
    ),
    refused(
      ["inject", "-"],
      1,
      /Linkerd's init container "linkerd-init"/,
      pod("  initContainers: [{name: linkerd-init, image: l5d}]\n"),
    ),
    refused(
      ["inject", "-"],
      1,
      /namespace "kube-system" runs Kubernetes' own components; pass --force/,
      pod("", "kube-system"),
    ),
    refused(
      ["inject", "--manual", ANCHORS, "-"],
      1,
      /namespace "trellis" is the Trellis control plane's/,
      pod("", "trellis"),
    ),
    refused(
      ["inject", "-"],
      1,
      /annotation trellis.dev\/skip-inbound-ports: "x" is not a port/,
      "kind: Pod\nmetadata: {name: p, annotations: {trellis.dev/skip-inbound-ports: x}}\nspec: {containers: [{name: a, image: x}]}\n",
    ),
    refused(["inject", "--manual", "-"], 2, /--manual needs the mesh's trust anchors/, pod("")),
    refused(["inject", "test/fixtures/inject/missing.yaml"], 1, /missing.yaml: no such file or directory/),
    refused(["inject"], 2, /missing required argument/),
    refused(
      ["inject", "--manual", `--kubeconfig=${F}/missing-kubeconfig`, "-"],
      1,
      /^meshctl: --kubeconfig .*missing-kubeconfig: /,
      pod(""),
    ),
    refused(
      ["inject", "--manual", `--kubeconfig=${F}/kubeconfig.yaml`, "--context=prod", "-"],
      1,
      /^meshctl: --kubeconfig .*kubeconfig.yaml --context prod: the kubeconfig has no context "prod"/,
      pod(""),
    ),
    refused(
      ["inject", "--opaque-ports", "7000,mysql", `${F}/web.yaml`],
      2,
      /--opaque-ports.*expected ports and ranges/,
    ),
  ]);
  const forced = await ok(["inject", "--force", "-"], pod("", "kube-system"));
  assert.match(forced.stderr, /pod "p" injected/);
});

test("--opaque-ports annotates the Service too", async () => {
  const { stdout, stderr } = await ok(["inject", "--opaque-ports", "7000", `${F}/web.yaml`]);
  assert.match(stderr, /deployment "web" injected\nservice "web" annotated\n/);
  assert.equal(stdout.match(/trellis.dev\/opaque-ports: "?7000"?$/gm)?.length, 2, stdout);
});

test("a JSON source after a YAML one stays a separate document of the stream", async () => {
  const { stdout } = await ok(["inject", `${F}/web.yaml`, `${F}/list.json`]);
  const docs = parseAllDocuments(stdout);
  assert.deepEqual(
    docs.map((d) => d.errors.length),
    [0, 0, 0, 0],
  );
  assert.deepEqual(
    docs.map((d) => (d.toJS() as { kind: string }).kind),
    ["Deployment", "Service", "ConfigMap", "List"],
  );
});
