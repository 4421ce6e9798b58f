/**
 * `meshctl install --identity-external-issuer` on the test bed, as a cert-manager user runs it: the
 * issuer Secret exists before install (here written with kubectl, as cert-manager would write it);
 * install reads it through the kubeconfig, refuses it with one line when it is missing or does not
 * chain to its anchors, renders no Secret of its own and takes the anchors from its ca.crt; applied, the
 * identity service loads that issuer and `meshctl check` passes.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseAllDocuments } from "yaml";
import {
  ISSUER_SECRET,
  type K8sObject,
  TRUST_ROOTS_CONFIGMAP,
  TRUST_ROOTS_KEY,
} from "../../cli/install/index.js";
import { type CertificateAndKeyPem, createIssuer, createTrustAnchor } from "../../control/identity/ca.js";
import { type Run, meshctl as run } from "../support/meshctl.js";
import { type Cluster, startCluster } from "./harness/index.js";

const NAMESPACE = "mesh";

let cluster: Cluster;
let anchor: CertificateAndKeyPem;
let issuer: CertificateAndKeyPem;

before(async () => {
  cluster = await startCluster();
  anchor = await createTrustAnchor({ trustDomain: "cluster.local" });
  issuer = await createIssuer(anchor, { trustDomain: "cluster.local" });
});
after(() => cluster?.stop());

function meshctl(args: string[]): Promise<Run> {
  return run(args, { env: { KUBECONFIG: cluster.kubeconfigPath }, timeoutMs: 180_000 });
}

/** The issuer Secret as cert-manager writes it: kubernetes.io/tls with tls.crt, tls.key and ca.crt. */
function issuerSecret(cert: string, key: string, ca: string): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: ISSUER_SECRET, namespace: NAMESPACE },
    data: { "tls.crt": b64(cert), "tls.key": b64(key), "ca.crt": b64(ca) },
  });
}

function assertRefused(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

test("the external issuer's Secret is read from the cluster, validated, and loaded by the identity service", async () => {
  const args = ["install", "--identity-external-issuer", `--namespace=${NAMESPACE}`];
  assertRefused(
    await meshctl(args),
    /--identity-external-issuer: Secret mesh\/trellis-identity-issuer does not exist; create it first/,
  );

  await cluster.kubectl(["create", "namespace", NAMESPACE]);
  const other = await createTrustAnchor({ trustDomain: "cluster.local" });
  await cluster.kubectl(["apply", "-f", "-"], {
    input: issuerSecret(issuer.certPem, issuer.keyPem, other.certPem),
  });
  assertRefused(await meshctl(args), /Secret mesh\/trellis-identity-issuer tls\.crt/);

  await cluster.kubectl(["apply", "-f", "-"], {
    input: issuerSecret(issuer.certPem, issuer.keyPem, anchor.certPem),
  });
  const install = await meshctl(args);
  assert.equal(install.code, 0, install.stderr);
  const objects = parseAllDocuments(install.stdout).map((d) => d.toJS() as K8sObject);
  assert.deepEqual(
    objects.filter((o) => o.kind === "Secret" && o.metadata.name === ISSUER_SECRET),
    [],
    "the issuer Secret stays cert-manager's",
  );
  const roots = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === TRUST_ROOTS_CONFIGMAP);
  assert.equal(((roots?.data ?? {}) as Record<string, string>)[TRUST_ROOTS_KEY], anchor.certPem);

  await cluster.kubectl(["apply", "-f", "-"], { input: (await meshctl(["install", "--crds"])).stdout });
  await cluster.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "customresourcedefinition/serviceprofiles.trellis.dev",
    "customresourcedefinition/trafficsplits.split.smi-spec.io",
  ]);
  await cluster.kubectl(["apply", "-f", "-"], { input: install.stdout });
  const check = await meshctl(["check", `--namespace=${NAMESPACE}`, "--wait=2m"]);
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  assert.match(check.stdout, /√ issuer cert is issued by the trust anchor/);
  assert.match(check.stdout, /√ destination service answers a lookup of kubernetes\.default/);
});
