// The identity PKI install renders: generated as DESIGN.md says (ECDSA P-256, anchor 10 years, issuer 1
// year, the issuer a CA the identity service loads), or read from files and passed through unchanged.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { identityPki } from "../../../cli/install/certificates.js";
import { CertificateAuthority } from "../../../control/identity/ca.js";
import { repoRoot } from "../../support/process.js";

const F = join(repoRoot, "test/fixtures/install");
const YEAR_MS = 365 * 24 * 3600_000;

test("generated: a P-256 anchor for 10 years and a P-256 issuer for 1 year that the identity service loads", async () => {
  const before = Date.now();
  const pki = await identityPki({ externalIssuer: false, trustDomain: "corp.example" });
  assert.ok(pki.issuer);
  const anchor = new X509Certificate(pki.trustAnchorsPem);
  const issuer = new X509Certificate(pki.issuer.certPem);
  for (const cert of [anchor, issuer]) {
    assert.equal(cert.ca, true);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  }
  const life = (c: X509Certificate) => Date.parse(c.validTo) - before;
  assert.ok(Math.abs(life(anchor) - 10 * YEAR_MS) < 3600_000, `anchor valid to ${anchor.validTo}`);
  assert.ok(Math.abs(life(issuer) - YEAR_MS) < 3600_000, `issuer valid to ${issuer.validTo}`);
  assert.match(anchor.subject, /corp\.example/);
  const loaded = await CertificateAuthority.tryLoad({
    trustAnchorsPem: pki.trustAnchorsPem,
    issuerCertPem: pki.issuer.certPem,
    issuerKeyPem: pki.issuer.keyPem,
  });
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.reason);
  assert.doesNotMatch(JSON.stringify(pki), /anchor.*PRIVATE KEY/, "the anchor's key is not kept");
});

test("given files are passed through as they are, each certificate block ending in one newline", async () => {
  const pki = await identityPki({
    trustAnchorsFile: join(F, "ca.crt"),
    issuerCertificateFile: join(F, "issuer.crt"),
    issuerKeyFile: join(F, "issuer.key"),
    externalIssuer: false,
    trustDomain: "cluster.local",
  });
  assert.equal(pki.trustAnchorsPem, readFileSync(join(F, "ca.crt"), "utf8"));
  assert.equal(pki.issuer?.certPem, readFileSync(join(F, "issuer.crt"), "utf8"));
  assert.equal(pki.issuer?.keyPem, readFileSync(join(F, "issuer.key"), "utf8"));
});

test("an external issuer: only the anchors, checked to be CAs valid now", async () => {
  const pki = await identityPki({
    trustAnchorsFile: join(F, "ca.crt"),
    externalIssuer: true,
    trustDomain: "cluster.local",
  });
  assert.equal(pki.issuer, undefined);
  await assert.rejects(
    identityPki({
      trustAnchorsFile: join(F, "not-ca.crt"),
      externalIssuer: true,
      trustDomain: "cluster.local",
    }),
    /not-ca\.crt: certificate 1 is not a CA/,
  );
  await assert.rejects(
    identityPki({
      trustAnchorsFile: join(F, "ca.crt"),
      externalIssuer: true,
      trustDomain: "cluster.local",
      now: new Date("2200-01-01T00:00:00Z"),
    }),
    /ca\.crt: certificate 1 is valid from .* not now/,
  );
});
