// The identity PKI install renders: generated as DESIGN.md says (ECDSA P-256, anchor 10 years, issuer 1
// year, the issuer a CA the identity service loads), or read from files and passed through unchanged.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type IssuerSecret, identityPki } from "../../../cli/install/certificates.js";
import { CertificateAuthority, createIssuer, createTrustAnchor } from "../../../control/identity/ca.js";
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

test("an external issuer: its Secret validated as identity loads it, the anchors from ca.crt or the file given", async () => {
  const pem = (name: string) => readFileSync(join(F, name), "utf8");
  const secret = (over: Partial<IssuerSecret> = {}): IssuerSecret => ({
    name: "Secret trellis/trellis-identity-issuer",
    crtPem: pem("issuer.crt"),
    keyPem: pem("issuer.key"),
    caPem: pem("ca.crt"),
    ...over,
  });
  const external = (s: IssuerSecret, extra: { trustAnchorsFile?: string; now?: Date } = {}) =>
    identityPki({
      externalIssuer: true,
      trustDomain: "cluster.local",
      readIssuerSecret: async () => s,
      ...extra,
    });

  const fromSecret = await external(secret());
  assert.equal(fromSecret.issuer, undefined, "the issuer is never rendered");
  assert.equal(fromSecret.trustAnchorsPem, pem("ca.crt"));
  const fromFile = await external(secret({ caPem: "garbage" }), { trustAnchorsFile: join(F, "ca.crt") });
  assert.equal(fromFile.trustAnchorsPem, pem("ca.crt"), "the file wins over ca.crt");

  const other = await createTrustAnchor({ trustDomain: "cluster.local" });
  const expiredIssuer = await createIssuer(await createTrustAnchor({ trustDomain: "cluster.local" }), {
    trustDomain: "cluster.local",
  });
  const faults: [string, () => Promise<unknown>, RegExp][] = [
    [
      "no ca.crt and no file",
      () => external(secret({ caPem: undefined })),
      /has no ca\.crt: give the anchors .*--identity-trust-anchors-file/,
    ],
    [
      "no tls.key",
      () => external(secret({ keyPem: undefined })),
      /Secret trellis\/trellis-identity-issuer has no tls\.key: .*kubernetes\.io\/tls/,
    ],
    [
      "ca.crt not a CA",
      () => external(secret({ caPem: pem("not-ca.crt") })),
      /Secret trellis\/trellis-identity-issuer ca\.crt: certificate 1 is not a CA/,
    ],
    ["another anchor", () => external(secret({ caPem: other.certPem })), /tls\.crt/],
    ["key of another certificate", () => external(secret({ keyPem: expiredIssuer.keyPem })), /tls\.key/],
    [
      "anchors file not a CA",
      () => external(secret(), { trustAnchorsFile: join(F, "not-ca.crt") }),
      /not-ca\.crt: certificate 1 is not a CA/,
    ],
    [
      "expired",
      () => external(secret(), { now: new Date("2200-01-01T00:00:00Z") }),
      /ca\.crt: certificate 1 is valid from .* not now/,
    ],
  ];
  for (const [name, run, pattern] of faults) await assert.rejects(run(), pattern, name);
});
