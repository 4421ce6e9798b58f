// meshctl install and uninstall as a user runs them: the built CLI, its stdout, stderr and exit code.
// Golden files pin the output for the fixed identity files in test/fixtures/install/ (made by
// generate.ts there); every bad input fails with one line naming the input, and prints nothing else.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments, stringify } from "yaml";
import type { K8sObject } from "../../../cli/install/index.js";
import { assertGolden } from "../../support/golden.js";
import { meshctl, type Run } from "../../support/meshctl.js";

const THIS_FILE = "test/cli/commands/install.test.ts";
const F = "test/fixtures/install";
const FILES = [
  `--identity-trust-anchors-file=${F}/ca.crt`,
  `--identity-issuer-certificate-file=${F}/issuer.crt`,
  `--identity-issuer-key-file=${F}/issuer.key`,
  `--injector-ca-file=${F}/injector-ca.crt`,
  `--injector-certificate-file=${F}/injector.crt`,
  `--injector-key-file=${F}/injector.key`,
];

/** `meshctl <args>` from the repository's root, as a user would run it. */

async function ok(args: string[]): Promise<string> {
  const run = await meshctl(args);
  assert.equal(run.code, 0, `meshctl ${args.join(" ")}: ${run.stderr}`);
  assert.equal(run.stderr, "", "nothing on stderr when it works");
  return run.stdout;
}

function yamlObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as K8sObject;
  });
}

test("install with fixed identity files matches the golden files, default and --ha", async () => {
  const [plain, ha] = await Promise.all([ok(["install", ...FILES]), ok(["install", "--ha", ...FILES])]);
  assertGolden("install.yaml", plain, THIS_FILE);
  assertGolden("install-ha.yaml", ha, THIS_FILE);
});

test("install --crds prints manifests/crds/ as the golden file has them; uninstall prints only names", async () => {
  const [crds, uninstall, uninstallCrds] = await Promise.all([
    ok(["install", "--crds"]),
    ok(["uninstall"]),
    ok(["uninstall", "--crds"]),
  ]);
  assertGolden("install-crds.yaml", crds, THIS_FILE);
  assertGolden("uninstall.yaml", uninstall, THIS_FILE);
  assertGolden("uninstall-crds.yaml", uninstallCrds, THIS_FILE);
});

test("two runs with the same identity files print the same bytes; generated certificates differ per run", async () => {
  const [a, b, c, d] = await Promise.all([
    ok(["install", "--ha", ...FILES]),
    ok(["install", "--ha", ...FILES]),
    ok(["install"]),
    ok(["install"]),
  ]);
  assert.equal(a, b);
  assert.notEqual(c, d, "a generated PKI is new on every run");
  // Only the trust anchors, the issuer and the injector's certificate (Secret and caBundle) differ.
  const differing = yamlObjects(c)
    .map((o, i) => [o, yamlObjects(d)[i]] as const)
    .filter(([x, y]) => JSON.stringify(x) !== JSON.stringify(y))
    .map(([x]) => `${x.kind}/${x.metadata.name}`);
  assert.deepEqual(differing, [
    "ConfigMap/trellis-identity-trust-roots",
    "Secret/trellis-identity-issuer",
    "Secret/trellis-injector-tls",
    "MutatingWebhookConfiguration/trellis-trellis-injector",
  ]);
});

test("-o json prints one List with the same objects as the YAML; every object carries the namespace and version labels", async () => {
  const [yaml, json, crds] = await Promise.all([
    ok(["install", ...FILES]),
    ok(["install", ...FILES, "-o", "json"]),
    ok(["install", "--crds", "--namespace", "mesh", "-o", "json"]),
  ]);
  const list = JSON.parse(json) as { apiVersion: string; kind: string; items: K8sObject[] };
  assert.equal(list.kind, "List");
  assert.deepEqual(list.items, yamlObjects(yaml));
  const { version } = (await import("../../../package.json", { with: { type: "json" } })).default;
  const crdList = JSON.parse(crds) as { items: K8sObject[] };
  for (const [objects, ns] of [
    [list.items, "trellis"],
    [crdList.items, "mesh"],
  ] as const)
    for (const o of objects) {
      assert.equal(o.metadata.labels?.["trellis.dev/control-plane-ns"], ns, `${o.kind}/${o.metadata.name}`);
      assert.equal(o.metadata.labels?.["trellis.dev/version"], version, `${o.kind}/${o.metadata.name}`);
    }
});

test("every bad input fails with one clear line naming it, the right exit code, and nothing on stdout", async () => {
  const files = (cert: string, key: string, anchors = `${F}/ca.crt`) => [
    `--identity-trust-anchors-file=${anchors}`,
    `--identity-issuer-certificate-file=${cert}`,
    `--identity-issuer-key-file=${key}`,
  ];
  const injector = (o: { ca?: string; cert?: string; key?: string } = {}) => [
    `--injector-ca-file=${o.ca ?? `${F}/injector-ca.crt`}`,
    `--injector-certificate-file=${o.cert ?? `${F}/injector.crt`}`,
    `--injector-key-file=${o.key ?? `${F}/injector.key`}`,
  ];
  const cases: [string, string[], number, RegExp][] = [
    [
      "half-given files",
      ["install", FILES[0] as string],
      2,
      /--identity-issuer-certificate-file and --identity-issuer-key-file missing/,
    ],
    ["one file missing of three", ["install", ...FILES.slice(0, 2)], 2, /--identity-issuer-key-file missing/],
    [
      "an issuer that is not a CA",
      ["install", ...files(`${F}/not-ca.crt`, `${F}/not-ca.key`)],
      1,
      /not-ca\.crt: .* is not a CA/,
    ],
    [
      "an issuer of another anchor",
      ["install", ...files(`${F}/other-issuer.crt`, `${F}/other-issuer.key`)],
      1,
      /other-issuer\.crt: .* is not signed by any certificate in --identity-trust-anchors-file .*ca\.crt/,
    ],
    [
      "a key that is not the issuer's",
      ["install", ...files(`${F}/issuer.crt`, `${F}/other-issuer.key`)],
      1,
      /other-issuer\.key does not match the public key of --identity-issuer-certificate-file .*issuer\.crt/,
    ],
    [
      "an RSA issuer",
      ["install", ...files(`${F}/rsa-issuer.crt`, `${F}/rsa-issuer.key`)],
      1,
      /rsa-issuer\.crt: the issuer's key is RSA 2048-bit; .*ECDSA P-256/,
    ],
    [
      "a P-384 issuer",
      ["install", ...files(`${F}/p384-issuer.crt`, `${F}/p384-issuer.key`)],
      1,
      /p384-issuer\.crt: the issuer's key is ECDSA P-384; .*ECDSA P-256/,
    ],
    [
      "an expired issuer",
      ["install", ...files(`${F}/expired-issuer.crt`, `${F}/expired-issuer.key`)],
      1,
      /expired-issuer\.crt: .* is valid from .* to .*, not now/,
    ],
    [
      "garbage anchors",
      ["install", ...files(`${F}/issuer.crt`, `${F}/issuer.key`, `${F}/garbage.pem`)],
      1,
      /--identity-trust-anchors-file .*garbage\.pem holds no PEM certificate/,
    ],
    [
      "a garbage issuer",
      ["install", ...files(`${F}/garbage.pem`, `${F}/issuer.key`)],
      1,
      /--identity-issuer-certificate-file .*garbage\.pem holds no PEM certificate/,
    ],
    [
      "a garbage key",
      ["install", ...files(`${F}/issuer.crt`, `${F}/garbage.pem`)],
      1,
      /--identity-issuer-key-file .*garbage\.pem is not a PEM private key/,
    ],
    [
      "a missing file",
      ["install", ...files(`${F}/nope.crt`, `${F}/issuer.key`)],
      1,
      /--identity-issuer-certificate-file .*nope\.crt: cannot read it \(no such file\)/,
    ],
    [
      "an external issuer with an unreadable kubeconfig",
      ["install", "--identity-external-issuer", `--kubeconfig=${F}/nope.kubeconfig`],
      1,
      /--identity-external-issuer: cannot load the kubeconfig: .*nope\.kubeconfig/,
    ],
    [
      "an external issuer with issuer files",
      ["install", "--identity-external-issuer", ...FILES],
      2,
      /cannot be combined with --identity-external-issuer/,
    ],
    [
      "half the injector's files",
      ["install", `--injector-ca-file=${F}/injector-ca.crt`],
      2,
      /--injector-certificate-file and --injector-key-file missing/,
    ],
    [
      "an injector certificate for another namespace's Service",
      ["install", "--namespace=mesh", ...injector()],
      1,
      /--injector-certificate-file .*injector\.crt: the certificate names trellis-injector\.trellis\.svc, not trellis-injector\.mesh\.svc, the name the API server calls/,
    ],
    [
      "an injector CA that did not sign the certificate",
      ["install", ...injector({ ca: `${F}/ca.crt` })],
      1,
      /injector\.crt: the certificate .* does not chain to a certificate of --injector-ca-file .*ca\.crt/,
    ],
    [
      "an injector key that is not the certificate's",
      ["install", ...injector({ key: `${F}/issuer.key` })],
      1,
      /--injector-key-file .*issuer\.key is not the key of the certificate in --injector-certificate-file/,
    ],
    [
      "the injector's CA given as its certificate",
      ["install", ...injector({ cert: `${F}/injector-ca.crt` })],
      1,
      /injector-ca\.crt: the certificate is a CA; give the webhook's serving certificate/,
    ],
    [
      "a garbage injector certificate",
      ["install", ...injector({ cert: `${F}/garbage.pem` })],
      1,
      /--injector-certificate-file .*garbage\.pem holds no PEM certificate/,
    ],
    [
      "a missing injector key",
      ["install", ...injector({ key: `${F}/nope.key` })],
      1,
      /--injector-key-file .*nope\.key: cannot read it \(no such file\)/,
    ],
    ["an unknown flag", ["install", "--bogus"], 2, /unknown option '--bogus'/],
    ["a bad -o", ["install", "-o", "xml"], 2, /argument 'xml' is invalid\. Allowed choices are yaml, json/],
    ["a bad -o for uninstall", ["uninstall", "-o", "table"], 2, /argument 'table' is invalid/],
    [
      "a bad namespace",
      ["install", "--namespace", "Not_A_Label"],
      2,
      /--namespace.*expected a DNS-1123 label/,
    ],
    [
      "a bad trust domain",
      ["install", "--trust-domain", "under_score"],
      2,
      /--trust-domain.*expected a DNS name/,
    ],
    [
      "a bad lifetime",
      ["install", "--identity-issuance-lifetime", "forever"],
      2,
      /--identity-issuance-lifetime.*expected a duration/,
    ],
    [
      "a bad quantity",
      ["install", "--proxy-memory-request", "lots"],
      2,
      /--proxy-memory-request.*expected a memory quantity/,
    ],
    [
      "a request above its limit",
      ["install", "--proxy-cpu-request", "2", "--proxy-cpu-limit", "1"],
      2,
      /--proxy-cpu-request 2 is above the proxy's cpu limit 1/,
    ],
    ["a bad log level", ["install", "--proxy-log-level", "loud"], 2, /--proxy-log-level.*Allowed choices/],
  ];
  // A few at a time: dozens of Node processes at once on a small machine run into meshctl's timeout.
  const runs: Run[] = [];
  for (let i = 0; i < cases.length; i += 4)
    runs.push(...(await Promise.all(cases.slice(i, i + 4).map(([, args]) => meshctl(args)))));
  const wrong: string[] = [];
  for (const [i, [name, , code, pattern]] of cases.entries()) {
    const run = runs[i] as Run;
    const lines = run.stderr.split("\n").filter((l) => l !== "");
    if (run.code !== code) wrong.push(`${name}: exit ${run.code}, expected ${code}: ${run.stderr}`);
    if (run.stdout !== "") wrong.push(`${name}: printed on stdout: ${run.stdout.slice(0, 80)}`);
    if (lines.length !== 1) wrong.push(`${name}: ${lines.length} lines on stderr:\n${run.stderr}`);
    if (/^\s+at /m.test(run.stderr)) wrong.push(`${name}: a stack trace`);
    if (!pattern.test(run.stderr))
      wrong.push(`${name}: ${JSON.stringify(run.stderr)} does not match ${pattern}`);
  }
  assert.deepEqual(wrong, []);
});

test("--identity-external-issuer reads its Secret from the cluster: an API server that does not answer is one line, exit 1", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trellis-install-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
    }),
  );
  const run = await meshctl([
    "install",
    "--identity-external-issuer",
    "--namespace=mesh",
    `--kubeconfig=${kubeconfig}`,
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(
    run.stderr,
    /^meshctl: --identity-external-issuer: cannot read Secret mesh\/trellis-identity-issuer from https:\/\/127\.0\.0\.1:1.*\n$/,
  );
});

test("--help shows the examples and every flag of the issue", async () => {
  const help = await ok(["install", "--help"]);
  for (const flag of [
    "--crds",
    "--ha",
    "--namespace",
    "--trust-domain",
    "--cluster-domain",
    "--registry",
    "--image-tag",
    "--proxy-log-level",
    "--proxy-cpu-request",
    "--proxy-cpu-limit",
    "--proxy-memory-request",
    "--proxy-memory-limit",
    "--identity-issuance-lifetime",
    "--identity-trust-anchors-file",
    "--identity-issuer-certificate-file",
    "--identity-issuer-key-file",
    "--identity-external-issuer",
    "--injector-ca-file",
    "--injector-certificate-file",
    "--injector-key-file",
    "--output",
  ])
    assert.ok(help.includes(flag), flag);
  assert.match(help, /Examples:\n\s+meshctl install --crds \| kubectl apply -f -/);
  assert.match(await ok(["uninstall", "--help"]), /meshctl uninstall \| kubectl delete -f -/);
});
