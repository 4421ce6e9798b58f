/**
 * The identity service against a real kube-apiserver: proxies prove their ServiceAccount with projected
 * tokens checked by TokenReview (audience identity.trellis.dev), and a token proves only its own account.
 * The destination service proves its own the same way, then serves mutual TLS.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CoreV1Api } from "@kubernetes/client-node";
import { certify } from "../control/identity/harness.js";
import { firstAnswer, meshCredentials } from "../support/destination.js";
import { type MeshPki, makeCsr, makeMeshPki } from "../support/pki.js";
import { bin, type Child, startNode } from "../support/process.js";
import { type Cluster, startCluster } from "./harness/index.js";

let cluster: Cluster;
let core: CoreV1Api;
let dir: string;
let pki: MeshPki;
let identity: Child;
let service: { listen: string; identity: string };

async function token(
  namespace: string,
  serviceAccount: string,
  audience = "identity.trellis.dev",
): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  return tr.status?.token ?? "";
}

before(async () => {
  cluster = await startCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  dir = await mkdtemp(join(tmpdir(), "trellis-cluster-identity-"));
  pki = await makeMeshPki({ dir });
  const files = pki.files;
  if (!files) throw new Error("no PKI files");
  await cluster.createNamespace("shop");
  for (const sa of ["web", "books"]) {
    await core.createNamespacedServiceAccount({ namespace: "shop", body: { metadata: { name: sa } } });
  }
  identity = startNode(undefined, bin("trellis-controller"), [
    "identity",
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    `--trust-anchors-file=${files.trustAnchors}`,
    `--issuer-certificate-file=${files.issuerCert}`,
    `--issuer-key-file=${files.issuerKey}`,
    "--token-verifier=kubernetes",
    `--kubeconfig=${cluster.kubeconfigPath}`,
  ]);
  service = await identity.ready<{ listen: string; identity: string }>(30_000);
});

after(async () => {
  await identity?.stop();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a proxy with its projected ServiceAccount token is certified through TokenReview", async (t) => {
  const tokenFile = join(dir, "web.token");
  await writeFile(tokenFile, await token("shop", "web"));
  const proxy = startNode(t, bin("trellis-proxy"), [], {
    TRELLIS_PROXY_INBOUND_LISTEN_ADDR: "127.0.0.1:0",
    TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:0",
    TRELLIS_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:0",
    TRELLIS_PROXY_IDENTITY_NAME: pki.identity("shop", "web"),
    TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: pki.anchor.certPem,
    TRELLIS_PROXY_IDENTITY_TOKEN_FILE: tokenFile,
    TRELLIS_PROXY_IDENTITY_SVC_ADDR: service.listen,
    TRELLIS_PROXY_IDENTITY_SVC_NAME: service.identity,
  });
  const ready = await proxy.ready<{ identity: string; admin: string }>(30_000);
  assert.equal(ready.identity, "spiffe://cluster.local/ns/shop/sa/web");
  const metrics = await (await fetch(`http://${ready.admin}/metrics`)).text();
  assert.match(metrics, /^identity_cert_expiration_timestamp_seconds \d+/m);
});

test("web's token never yields books' certificate, and a token for another audience proves nothing", async () => {
  const books = pki.identity("shop", "books");
  const { csrDer } = await makeCsr(books);
  const asBooks = await certify(service.listen, pki.anchor.certPem, {
    identity: books,
    token: Buffer.from(await token("shop", "web")),
    certificateSigningRequest: csrDer,
  });
  assert.equal(asBooks.code, grpc.status.PERMISSION_DENIED, asBooks.details);

  const web = pki.identity("shop", "web");
  const { csrDer: webCsr } = await makeCsr(web);
  const otherAudience = await certify(service.listen, pki.anchor.certPem, {
    identity: web,
    token: Buffer.from(await token("shop", "web", "some-other-audience")),
    certificateSigningRequest: webCsr,
  });
  assert.equal(otherAudience.code, grpc.status.UNAUTHENTICATED, otherAudience.details);

  const ok = await certify(service.listen, pki.anchor.certPem, {
    identity: web,
    token: Buffer.from(await token("shop", "web")),
    certificateSigningRequest: webCsr,
  });
  assert.equal(ok.code, grpc.status.OK, ok.details);
});

test("the destination service is certified through TokenReview and answers mesh workloads over mutual TLS", async (t) => {
  await cluster.createNamespace("trellis");
  await core.createNamespacedServiceAccount({
    namespace: "trellis",
    body: { metadata: { name: "trellis-destination" } },
  });
  const tokenFile = join(dir, "destination.token");
  await writeFile(tokenFile, await token("trellis", "trellis-destination"));
  const files = pki.files;
  if (!files) throw new Error("no PKI files");
  const destination = startNode(t, bin("trellis-controller"), [
    "destination",
    "--source=kubernetes",
    `--kubeconfig=${cluster.kubeconfigPath}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    `--identity-svc-addr=${service.listen}`,
    `--identity-svc-name=${service.identity}`,
    `--identity-token-file=${tokenFile}`,
    `--trust-anchors-file=${files.trustAnchors}`,
  ]);
  const ready = await destination.ready<{ listen: string; identity: string }>(60_000);
  assert.equal(ready.identity, "spiffe://cluster.local/ns/trellis/sa/trellis-destination");

  const verifyDestination = (_host: string, cert: { subjectaltname?: string }) =>
    cert.subjectaltname === `URI:${ready.identity}` ? undefined : new Error(`${cert.subjectaltname}`);
  const ask = (leaf?: { keyPem: string; certChainPem: string }) =>
    firstAnswer(
      ready.listen,
      meshCredentials(pki.anchor.certPem, leaf, verifyDestination),
      "kubernetes.default.svc.cluster.local:443",
      "shop",
    );
  assert.equal(await ask(), grpc.status.UNAVAILABLE, "no client certificate");
  assert.equal(await ask(await pki.leaf(pki.identity("shop", "web"))), grpc.status.OK, "a mesh workload");
});
