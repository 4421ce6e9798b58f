/**
 * `meshctl check` on one test bed, in the order an operator meets it: `check --pre` passes on an empty
 * cluster; install applied with kubectl, `check` passes within a bounded `--wait` and `check --pre` now
 * fails with its hint; then broken states, each failing `check` on its line with its hint and passing
 * again once repaired: a CRD deleted, the issuer Secret replaced by an expired issuer, by an issuer of
 * another anchor, and the destination Deployment scaled to 0. With --proxy, a real proxy in a pod passes,
 * one trusting other anchors fails, and a pod annotated for injection without a proxy warns. And the bad inputs: an unknown flag, a bad
 * -o, an API server that cannot be reached.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { categoriesFor } from "../../cli/check/index.js";
import { ISSUER_SECRET, type MeshConfig } from "../../cli/install/index.js";
import { type CertificateAndKeyPem, createIssuer, createTrustAnchor } from "../../control/identity/ca.js";
import { PROXY_CONTAINER } from "../../lib/proxy-env.js";
import { formatSpiffeId, IDENTITY_TOKEN_AUDIENCE } from "../../lib/spiffe.js";
import { ENV } from "../../proxy/config.js";
import { defaultMeshConfig } from "../support/install.js";
import type { Run } from "../support/meshctl.js";
import { type Cluster, startCluster } from "./harness/index.js";
import { apply as applyTo, assertCheckFailedOn, assertCheckPassed, meshctlOn, NAMESPACE } from "./mesh.js";

const TRUST_DOMAIN = "cluster.local";
const WAIT = "2m";

let cluster: Cluster;
let anchor: CertificateAndKeyPem;
let issuer: CertificateAndKeyPem;
let files: { anchors: string; cert: string; key: string };

before(async () => {
  cluster = await startCluster();
  anchor = await createTrustAnchor({ trustDomain: TRUST_DOMAIN });
  issuer = await createIssuer(anchor, { trustDomain: TRUST_DOMAIN });
  const dir = mkdtempSync(join(tmpdir(), "trellis-check-"));
  files = { anchors: join(dir, "ca.crt"), cert: join(dir, "issuer.crt"), key: join(dir, "issuer.key") };
  writeFileSync(files.anchors, anchor.certPem);
  writeFileSync(files.cert, issuer.certPem);
  writeFileSync(files.key, issuer.keyPem);
});
after(() => cluster?.stop());

/** meshctl against this test bed (its kubeconfig unless `env` says otherwise). */
function meshctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return meshctlOn(cluster, args, env);
}

function apply(yaml: string): Promise<string> {
  return applyTo(cluster, yaml);
}

const assertFailedOn = assertCheckFailedOn;
const assertPassed = assertCheckPassed;

function issuerSecret(pki: CertificateAndKeyPem): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: ISSUER_SECRET, namespace: NAMESPACE },
    type: "kubernetes.io/tls",
    data: {
      "tls.crt": Buffer.from(pki.certPem).toString("base64"),
      "tls.key": Buffer.from(pki.keyPem).toString("base64"),
    },
  });
}

test("bad input: an unknown flag and a bad -o exit 2; an API server that cannot be reached is one line and exit 1", async () => {
  const unknown = await meshctl(["check", "--bogus"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  const output = await meshctl(["check", "-o", "xml"]);
  assert.equal(output.code, 2);
  assert.match(output.stderr, /Allowed choices are table, short, json/);
  const both = await meshctl(["check", "--pre", "--proxy"]);
  assert.equal(both.code, 2);

  const dead = join(mkdtempSync(join(tmpdir(), "trellis-check-")), "kubeconfig");
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
  for (const run of [
    await meshctl(["check"], { KUBECONFIG: dead }),
    await meshctl(["check", `--kubeconfig=${dead}`]),
  ]) {
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr,
      "meshctl: cannot reach the Kubernetes API server at https://127.0.0.1:1: connection refused by https://127.0.0.1:1\n",
    );
  }
  const context = await meshctl(["check", "--context", "nope"]);
  assert.equal(context.code, 1);
  assert.equal(context.stderr, 'meshctl: cannot load the kubeconfig: the kubeconfig has no context "nope"\n');
});

test("check --pre passes on an empty test bed", async () => {
  assertPassed(await meshctl(["check", "--pre"]));
});

test("after install --crds and install applied, check passes within a bounded --wait; check --pre now fails with its hint", async () => {
  const crds = await meshctl(["install", "--crds"]);
  const install = await meshctl([
    "install",
    `--identity-trust-anchors-file=${files.anchors}`,
    `--identity-issuer-certificate-file=${files.cert}`,
    `--identity-issuer-key-file=${files.key}`,
  ]);
  assert.equal(install.code, 0, install.stderr);
  await apply(crds.stdout);
  await apply(install.stdout);
  assertPassed(await meshctl(["check", "--wait", WAIT]));

  const json = await meshctl(["check", "-o", "json"]);
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout) as { success: boolean; categories: { categoryName: string }[] };
  assert.equal(doc.success, true);
  assert.deepEqual(
    doc.categories.map((c) => c.categoryName),
    categoriesFor({ pre: false, proxy: false }).map((c) => c.name),
  );

  const pre = await meshctl(["check", "--pre"]);
  assertFailedOn(
    pre,
    "control plane namespace does not already exist",
    /the namespace trellis exists already/,
    true,
  );
});

test("a CRD deleted fails on the CRD line with its hint, and passes once re-applied", async () => {
  await cluster.kubectl(["delete", "crd", "trafficsplits.split.smi-spec.io"]);
  assertFailedOn(
    await meshctl(["check"]),
    "control plane CustomResourceDefinitions exist",
    /trafficsplits\.split\.smi-spec\.io/,
  );
  await apply((await meshctl(["install", "--crds"])).stdout);
  assertPassed(await meshctl(["check", "--wait", WAIT]));
});

test("an expired issuer fails on the issuer's validity line with its hint, and passes once restored", async () => {
  const expired = await createIssuer(anchor, {
    trustDomain: TRUST_DOMAIN,
    now: new Date(Date.now() - 400 * 86_400_000),
    lifetimeMs: 86_400_000,
  });
  await apply(issuerSecret(expired));
  assertFailedOn(await meshctl(["check"]), "issuer cert is within its validity period", /not now/);
  await apply(issuerSecret(issuer));
  assertPassed(await meshctl(["check", "--wait", WAIT]));
});

test("an issuer signed by another anchor fails on the chain line with its hint, and passes once restored", async () => {
  const other = await createIssuer(await createTrustAnchor({ trustDomain: TRUST_DOMAIN }), {
    trustDomain: TRUST_DOMAIN,
  });
  await apply(issuerSecret(other));
  assertFailedOn(
    await meshctl(["check"]),
    "issuer cert is issued by the trust anchor",
    /is not signed by any trust anchor/,
  );
  await apply(issuerSecret(issuer));
  assertPassed(await meshctl(["check", "--wait", WAIT]));
});

test("the destination Deployment scaled to 0 fails on the Deployments and destination lines, and passes once scaled back", async () => {
  await cluster.kubectl(["-n", NAMESPACE, "scale", "deployment/trellis-destination", "--replicas=0"]);
  await cluster.kubectl([
    "-n",
    NAMESPACE,
    "wait",
    "--for=delete",
    "pod",
    "-l",
    "trellis.dev/control-plane-component=destination",
    "--timeout=60s",
  ]);
  const run = await meshctl(["check"]);
  assertFailedOn(run, "control plane Deployments are available", /trellis-destination: scaled to 0 replicas/);
  assertFailedOn(run, "destination Service has ready endpoints", /has no ready endpoint/);
  const short = await meshctl(["check", "-o", "short"]);
  assert.doesNotMatch(short.stdout, /^√/m, "short prints only what is not √");
  assert.match(short.stdout, /^× control plane Deployments are available$/m);
  await cluster.kubectl(["-n", NAMESPACE, "scale", "deployment/trellis-destination", "--replicas=1"]);
  assertPassed(await meshctl(["check", "--wait", WAIT]));
});

/** A pod running only a Trellis proxy, configured as the injector would from trellis-config. */
function meshedPod(name: string, namespace: string, trustAnchorsPem: string): V1Pod {
  const config: MeshConfig = defaultMeshConfig({ namespace: NAMESPACE });
  const tokenDir = "/var/run/trellis/identity/token";
  const env = {
    [ENV.IDENTITY_NAME]: formatSpiffeId({ trustDomain: TRUST_DOMAIN, namespace, serviceAccount: "default" }),
    [ENV.IDENTITY_TRUST_ANCHORS]: trustAnchorsPem,
    [ENV.IDENTITY_TOKEN_FILE]: `${tokenDir}/token`,
    [ENV.IDENTITY_SVC_ADDR]: config.identityServiceAddr,
    [ENV.IDENTITY_SVC_NAME]: config.identityServiceName,
    [ENV.DESTINATION_SVC_ADDR]: config.destinationServiceAddr,
    [ENV.DESTINATION_SVC_NAME]: config.destinationServiceName,
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, annotations: { "trellis.dev/inject": "enabled" } },
    spec: {
      containers: [
        {
          name: PROXY_CONTAINER,
          image: config.proxyImage,
          env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
          volumeMounts: [{ name: "token", mountPath: tokenDir, readOnly: true }],
        },
      ],
      volumes: [
        {
          name: "token",
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: IDENTITY_TOKEN_AUDIENCE,
                  expirationSeconds: 3600,
                  path: "token",
                },
              },
            ],
          },
        },
      ],
    },
  };
}

test("--proxy: a proxy with a certificate passes, a pod annotated for injection without a proxy warns, a proxy trusting other anchors fails", async () => {
  const apps = "apps";
  // Out of the injector webhook's reach: these pods are made by hand (a proxy configured here, and a
  // pod annotated for injection that must stay without one, as if created while the webhook was away).
  await cluster.createNamespace(apps, { "trellis.dev/admission-webhooks": "disabled" });
  await apply(JSON.stringify(meshedPod("web", apps, anchor.certPem)));
  await cluster.kubectl([
    "-n",
    apps,
    "run",
    "plain",
    "--image=trellis.test/tools:latest",
    "--annotations=trellis.dev/inject=enabled",
  ]);
  const ok = await meshctl(["check", "--proxy", "-n", apps, "--wait", WAIT]);
  assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
  for (const line of [
    "√ data plane proxies are ready",
    "√ data plane proxies run the control plane's version",
    "√ data plane proxies' certificates are valid and trust the current anchors",
    "‼ pods annotated for injection run a proxy",
    "      * apps/plain",
  ])
    assert.ok(ok.stdout.split("\n").includes(line), `no "${line}" in:\n${ok.stdout}`);

  const other = await createTrustAnchor({ trustDomain: TRUST_DOMAIN });
  await apply(JSON.stringify(meshedPod("stale", apps, other.certPem)));
  await cluster.kubectl([
    "-n",
    apps,
    "wait",
    "--for=jsonpath={.status.phase}=Running",
    "pod/stale",
    "--timeout=60s",
  ]);
  const stale = await meshctl(["check", "--proxy", "-n", apps]);
  assertFailedOn(
    stale,
    "data plane proxies' certificates are valid and trust the current anchors",
    /apps\/stale: trusts other anchors/,
  );
  await cluster.kubectl(["-n", apps, "delete", "pod", "stale", "--wait=true"]);
  assert.equal((await meshctl(["check", "--proxy", "-n", apps])).code, 0);
});
