// Issuer rotation on a live service: a valid new issuer (same anchor) signs from the next request and
// the service's own certificate is re-issued from it without a restart; garbage or a foreign issuer is
// refused with a log line naming the file, and the previous issuer keeps signing. Also through a
// Kubernetes Secret volume, whose `..data` symlink is swapped rather than the files written.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { createIssuer } from "../../../control/identity/ca.js";
import type { ReloadOutcome } from "../../../control/identity/issuer-store.js";
import type { ServingPem } from "../../../control/identity/serving.js";
import { makeCsr, makeForeignPki, makeMeshPki } from "../../support/pki.js";
import {
  adminGet,
  certify,
  type Harness,
  memoryLogger,
  nextEvent,
  replaceFile,
  sample,
  secretVolume,
  startHarness,
  tempDir,
} from "./harness.js";

const A = "spiffe://cluster.local/ns/shop/sa/web";

async function certifyA(h: Harness) {
  const result = await certify(h.service.listen, h.pki.anchor.certPem, {
    identity: A,
    token: await h.token("shop", "web"),
    certificateSigningRequest: (await makeCsr(A)).csrDer,
  });
  assert.equal(result.code, status.OK, result.details);
  return result;
}

function signedBy(der: Buffer | undefined, issuerPem: string): boolean {
  return new X509Certificate(der ?? Buffer.alloc(0)).verify(new X509Certificate(issuerPem).publicKey);
}

const applied = (h: Harness) =>
  nextEvent<ReloadOutcome>(
    (l) => h.service.store.onReload(l),
    (o) => o.applied,
  );
const refused = (h: Harness, code: string) =>
  nextEvent<ReloadOutcome>(
    (l) => h.service.store.onReload(l),
    (o) => !o.applied && o.refusal.code === code,
  );

test("a valid new issuer from the same anchor signs the next leaf and the service's own certificate", async (t) => {
  const h = await startHarness(t);
  const before = await certifyA(h);
  assert.ok(signedBy(before.response?.leafCertificate, h.pki.issuer.certPem));

  const next = await createIssuer(h.pki.anchor, { trustDomain: "cluster.local" });
  const reloaded = applied(h);
  const reissued = nextEvent<ServingPem>((l) => h.service.serving.onChange(l));
  await replaceFile(h.files.issuerKey, next.keyPem);
  await replaceFile(h.files.issuerCertificate, next.certPem);
  await reloaded;
  await reissued;

  const after = await certifyA(h);
  assert.ok(signedBy(after.response?.leafCertificate, next.certPem), "the leaf is from the new issuer");
  assert.deepEqual(after.response?.intermediateCertificates, [new X509Certificate(next.certPem).raw]);
  // The live server now presents a certificate from the new issuer, on a new connection, no restart.
  assert.ok(signedBy(after.serverCertDer, next.certPem), "the serving certificate is from the new issuer");
  assert.deepEqual(after.serverIssuerDer, new X509Certificate(next.certPem).raw);

  const metrics = (await adminGet(h.service.admin, "/metrics")).body;
  assert.equal(sample(metrics, "identity_issuer_reloads_total", 'result="applied"') >= 1, true);
  assert.equal(
    sample(metrics, "identity_issuer_expiration_timestamp_seconds"),
    Date.parse(new X509Certificate(next.certPem).validTo) / 1000,
  );
});

test("garbage or an issuer of a foreign anchor is refused, logged naming the file, and the old issuer keeps signing", async (t) => {
  const { log, lines } = memoryLogger();
  const h = await startHarness(t, { log });

  const garbage = refused(h, "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE");
  await replaceFile(h.files.issuerCertificate, "this is not a certificate\n");
  await garbage;
  let result = await certifyA(h);
  assert.ok(signedBy(result.response?.leafCertificate, h.pki.issuer.certPem), "still the old issuer");

  const foreign = await makeForeignPki();
  const untrusted = refused(h, "TRELLIS_E_IDENTITY_ISSUER_UNTRUSTED");
  await replaceFile(h.files.issuerCertificate, foreign.issuer.certPem);
  await replaceFile(h.files.issuerKey, foreign.issuer.keyPem);
  await untrusted;
  result = await certifyA(h);
  assert.ok(signedBy(result.response?.leafCertificate, h.pki.issuer.certPem), "still the old issuer");
  assert.ok(signedBy(result.serverCertDer, h.pki.issuer.certPem), "still serving from the old issuer");

  const refusals = lines().filter((l) => /refused the changed CA files/.test(String(l.msg)));
  assert.ok(refusals.some((l) => l.code === "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE"));
  assert.ok(refusals.some((l) => l.code === "TRELLIS_E_IDENTITY_ISSUER_UNTRUSTED"));
  for (const l of refusals)
    assert.ok(
      String(l.msg).includes(h.files.issuerCertificate) || String(l.msg).includes(h.files.issuerKey),
      String(l.msg),
    );
  assert.equal((await adminGet(h.service.admin, "/ready")).status, 200);
  const metrics = (await adminGet(h.service.admin, "/metrics")).body;
  assert.ok(sample(metrics, "identity_issuer_reloads_total", 'result="refused"') >= 2);
});

test("each refused Certify logs one line with its stable code and reason", async (t) => {
  const { log, lines } = memoryLogger();
  const h = await startHarness(t, { log });
  const result = await certify(h.service.listen, h.pki.anchor.certPem, {
    identity: "spiffe://cluster.local/ns/shop/sa/admin",
    token: await h.token("shop", "web"),
    certificateSigningRequest: (await makeCsr("spiffe://cluster.local/ns/shop/sa/admin")).csrDer,
  });
  assert.equal(result.code, status.PERMISSION_DENIED);
  const refusals = lines().filter((l) => /^refused Certify/.test(String(l.msg)));
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0]?.code, "TRELLIS_E_IDENTITY_IDENTITY_MISMATCH");
  assert.equal(refusals[0]?.grpcCode, "PERMISSION_DENIED");
  assert.match(
    String(refusals[0]?.msg),
    /asked for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/admin, the token proves .*sa\/web/,
  );
});

test("a Secret volume's ..data swap to a new issuer is picked up", async (t) => {
  const pki = await makeMeshPki();
  const dir = await tempDir(t, "trellis-secret-");
  const volume = await secretVolume(dir, {
    "ca.crt": pki.anchor.certPem,
    "tls.crt": pki.issuer.certPem,
    "tls.key": pki.issuer.keyPem,
  });
  const h = await startHarness(t, { pki, files: volume.paths });
  await certifyA(h);

  const next = await createIssuer(pki.anchor, { trustDomain: "cluster.local" });
  const reloaded = applied(h);
  await volume.swap({ "ca.crt": pki.anchor.certPem, "tls.crt": next.certPem, "tls.key": next.keyPem });
  await reloaded;
  const after = await certifyA(h);
  assert.ok(signedBy(after.response?.leafCertificate, next.certPem));
});

test("the service's own certificate is renewed before it expires, and the live server presents the new one", async (t) => {
  const h = await startHarness(t, { lifetimeMs: 2_000 });
  const first = h.service.serving.pem();
  // Every renewal from here on: a slow handshake may meet a later one than the first renewal.
  const renewals: ServingPem[] = [];
  t.after(h.service.serving.onChange((pem) => renewals.push(pem)));
  const renewed = await nextEvent<ServingPem>((l) => h.service.serving.onChange(l));
  assert.notEqual(renewed.certChainPem, first?.certChainPem);
  assert.ok(first && renewed.notAfter.getTime() > first.notAfter.getTime());
  const result = await certifyA(h);
  const served = new X509Certificate(result.serverCertDer ?? Buffer.alloc(0));
  assert.ok(
    renewals.some((pem) => pem.notAfter.getTime() === Date.parse(served.validTo)),
    `the server presents a renewed certificate (valid to ${served.validTo}), not the first (${first.notAfter.toISOString()})`,
  );
});
