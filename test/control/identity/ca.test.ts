// The mesh CA: anchor and issuer generation, loading (and refusing) an issuer, and the leaves it signs,
// checked field by field with @peculiar/x509 and Node, and end to end by the real openssl verify.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import {
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
  type IssueResult,
} from "../../../control/identity/ca.js";
import { IdentityError } from "../../../control/identity/errors.js";
import * as x509 from "../../../lib/x509.js";
import { type MeshPki, makeCsr, makeForeignPki, makeMeshPki } from "../../support/pki.js";
import { requireTools } from "../../support/tools.js";

const ID = "spiffe://cluster.local/ns/shop/sa/web";
const HOUR = 3600_000;
let pki: MeshPki;

before(async () => {
  pki = await makeMeshPki();
});

function issued(result: IssueResult) {
  if (!result.ok) assert.fail(`expected a certificate, got ${result.code}: ${result.reason}`);
  return result;
}

test("the trust anchor is a self-signed P-256 CA for 10 years with keyCertSign, cRLSign and an SKI", async () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const anchor = await createTrustAnchor({ trustDomain: "example.org", now });
  const cert = new x509.X509Certificate(anchor.certPem);
  assert.equal(await cert.isSelfSigned(), true);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, true);
  assert.equal(bc?.critical, true);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  assert.equal((cert.publicKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");
  assert.equal(cert.notBefore.getTime(), now.getTime() - 20_000);
  assert.equal(cert.notAfter.getTime(), now.getTime() + 10 * 365 * 24 * HOUR);
  assert.match(anchor.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test("the issuer is a pathLen 0 CA for a year, signed by the anchor, its AKI the anchor's SKI", async () => {
  const now = new Date();
  const anchor = await createTrustAnchor({ trustDomain: "example.org", now });
  const issuer = await createIssuer(anchor, { trustDomain: "example.org", now });
  const anchorCert = new x509.X509Certificate(anchor.certPem);
  const cert = new x509.X509Certificate(issuer.certPem);
  assert.equal(await cert.verify({ publicKey: anchorCert.publicKey, signatureOnly: true }), true);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, true);
  assert.equal(bc?.pathLength, 0);
  assert.equal(
    cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    anchorCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  assert.equal(cert.notAfter.getTime(), Math.floor((now.getTime() + 365 * 24 * HOUR) / 1000) * 1000);
});

test("openssl verify accepts anchor → issuer → leaf, with the leaf for TLS clients and servers", async (t) => {
  if (!requireTools(t, "openssl")) return;
  const { csrDer } = await makeCsr(ID);
  const leaf = issued(await pki.ca.issue(csrDer, ID));
  const dir = await mkdtemp(join(tmpdir(), "trellis-ca-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const leafPem = new x509.X509Certificate(leaf.leafDer).toString("pem");
  await writeFile(join(dir, "anchor.pem"), pki.anchor.certPem);
  await writeFile(join(dir, "issuer.pem"), pki.issuer.certPem);
  await writeFile(join(dir, "leaf.pem"), leafPem);
  for (const purpose of ["sslserver", "sslclient"]) {
    const r = spawnSync(
      "openssl",
      ["verify", "-purpose", purpose, "-CAfile", "anchor.pem", "-untrusted", "issuer.pem", "leaf.pem"],
      { cwd: dir, encoding: "utf8" },
    );
    assert.equal(r.status, 0, `openssl verify (${purpose}): ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /leaf\.pem: OK/);
  }
});

test("a leaf carries only the URI SAN, serverAuth+clientAuth, critical digitalSignature, CA false, AKI", async () => {
  const now = new Date();
  const { csrDer, keys } = await makeCsr(ID);
  const result = issued(await pki.ca.issue(csrDer, ID, { now, lifetimeMs: 2 * HOUR }));
  const leaf = new x509.X509Certificate(result.leafDer);

  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(
    san?.names.items.map((n) => [n.type, n.value]),
    [["url", ID]],
  );
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual(
    [...(eku?.usages ?? [])].sort(),
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth].sort(),
  );
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(ku?.critical, true);
  const bc = leaf.getExtension(x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, false);
  assert.equal(bc?.critical, true);
  const issuer = new x509.X509Certificate(pki.issuer.certPem);
  assert.equal(
    leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.equal(leaf.subject, "");
  assert.equal(leaf.issuer, issuer.subject);

  // Serial: 16 bytes, positive.
  assert.equal(leaf.serialNumber.length, 32);
  assert.ok(Number.parseInt(leaf.serialNumber.slice(0, 2), 16) < 0x80);
  // Back-dated by 20 s, valid for the lifetime asked for (certificate times have second precision).
  const sec = (ms: number) => Math.floor(ms / 1000) * 1000;
  assert.equal(leaf.notBefore.getTime(), sec(now.getTime() - 20_000));
  assert.equal(leaf.notAfter.getTime(), sec(now.getTime() + 2 * HOUR));
  assert.equal(result.validUntil.getTime(), leaf.notAfter.getTime());
  // The leaf certifies the CSR's key, is signed by the issuer, and the chain sent is the issuer.
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
  assert.deepEqual(Buffer.from(leaf.publicKey.rawData), spki);
  const node = new X509Certificate(Buffer.from(result.leafDer));
  assert.ok(node.verify(new X509Certificate(pki.issuer.certPem).publicKey));
  assert.equal(result.intermediatesDer.length, 1);
  assert.deepEqual(
    Buffer.from(result.intermediatesDer[0] ?? []),
    new X509Certificate(pki.issuer.certPem).raw,
  );
});

test("the default lifetime is 24 h, and NotAfter never passes the issuer's", async () => {
  const now = new Date();
  const { csrDer } = await makeCsr(ID);
  const day = new x509.X509Certificate(issued(await pki.ca.issue(csrDer, ID, { now })).leafDer);
  assert.equal(day.notAfter.getTime(), Math.floor((now.getTime() + 24 * HOUR) / 1000) * 1000);

  const issuerNotAfter = pki.ca.issuerNotAfter.getTime();
  const late = new Date(issuerNotAfter - HOUR);
  const clamped = issued(await pki.ca.issue(csrDer, ID, { now: late, lifetimeMs: 24 * HOUR }));
  assert.equal(clamped.validUntil.getTime(), issuerNotAfter);
  assert.equal(new x509.X509Certificate(clamped.leafDer).notAfter.getTime(), issuerNotAfter);
});

test("an issuer that is not valid at signing time signs nothing", async () => {
  const { csrDer } = await makeCsr(ID);
  const after = await pki.ca.issue(csrDer, ID, { now: new Date(pki.ca.issuerNotAfter.getTime() + 1000) });
  assert.equal(after.ok, false);
  assert.equal(!after.ok && after.code, "TRELLIS_E_IDENTITY_NO_VALID_ISSUER");
});

test("CSRs asking for more or other than the identity, or with another key, are refused", async () => {
  const cases: [string, Promise<{ csrDer: Uint8Array }>, string][] = [
    [
      "a DNS SAN beside the URI",
      makeCsr(ID, [
        { type: "url", value: ID },
        { type: "dns", value: "web.shop.svc.cluster.local" },
      ]),
      "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS",
    ],
    [
      "two URIs",
      makeCsr(ID, [
        { type: "url", value: ID },
        { type: "url", value: "spiffe://cluster.local/ns/shop/sa/admin" },
      ]),
      "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS",
    ],
    ["an IP SAN", makeCsr(ID, [{ type: "ip", value: "10.0.0.1" }]), "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS"],
    ["an email SAN", makeCsr(ID, [{ type: "email", value: "a@b.c" }]), "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS"],
    [
      "another identity",
      makeCsr("spiffe://cluster.local/ns/shop/sa/admin"),
      "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH",
    ],
    ["no SAN at all", makeCsr(ID, []), "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH"],
    [
      "an RSA key",
      makeCsr(ID, undefined, {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      }),
      "TRELLIS_E_IDENTITY_CSR_KEY_TYPE",
    ],
    [
      "a P-384 key",
      makeCsr(ID, undefined, { name: "ECDSA", namedCurve: "P-384" }),
      "TRELLIS_E_IDENTITY_CSR_KEY_TYPE",
    ],
  ];
  for (const [what, csr, code] of cases) {
    const result = await pki.ca.issue((await csr).csrDer, ID);
    assert.equal(result.ok, false, what);
    assert.equal(!result.ok && result.code, code, what);
    assert.ok(!result.ok && result.reason.length > 0, what);
  }
});

test("a CSR whose signature does not verify (no proof of possession) is refused", async () => {
  const { csrDer } = await makeCsr(ID);
  const tampered = Uint8Array.from(csrDer);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
  const result = await pki.ca.issue(tampered, ID);
  assert.equal(!result.ok && result.code, "TRELLIS_E_IDENTITY_CSR_SIGNATURE");
});

test("garbage, empty and PEM CSRs are malformed, never a crash", async () => {
  const { csrDer } = await makeCsr(ID);
  const pem = x509.PemConverter.encode(csrDer, "CERTIFICATE REQUEST");
  for (const bytes of [
    new Uint8Array(0),
    Buffer.from("not a csr"),
    Buffer.from(pem),
    Uint8Array.from([0x30, 0x82, 0xff, 0xff, 0x01]),
    csrDer.slice(0, csrDer.length - 10),
    new Uint8Array(100_000).fill(0x30),
  ]) {
    const result = await pki.ca.issue(bytes, ID);
    assert.equal(!result.ok && result.code, "TRELLIS_E_IDENTITY_CSR_MALFORMED");
  }
});

test("load refuses unusable anchors and issuers, naming the input and what to do", async () => {
  const foreign = await makeForeignPki();
  const leaf = await pki.leaf(ID);
  const expiredAnchor = await createTrustAnchor({
    trustDomain: "cluster.local",
    now: new Date(Date.now() - 3 * HOUR),
  });
  const expiredIssuer = await createIssuer(expiredAnchor, {
    trustDomain: "cluster.local",
    now: new Date(Date.now() - 3 * HOUR),
    lifetimeMs: HOUR,
  });
  const names = {
    trustAnchors: "/etc/ca.crt",
    issuerCertificate: "/etc/issuer.crt",
    issuerKey: "/etc/issuer.key",
  };
  const good = {
    trustAnchorsPem: pki.anchor.certPem,
    issuerCertPem: pki.issuer.certPem,
    issuerKeyPem: pki.issuer.keyPem,
    names,
  };
  const cases: [string, Partial<typeof good>, string, RegExp][] = [
    ["garbage anchors", { trustAnchorsPem: "garbage" }, "TRELLIS_E_IDENTITY_TRUST_ANCHORS", /\/etc\/ca\.crt/],
    ["a leaf as anchor", { trustAnchorsPem: leaf.certPem }, "TRELLIS_E_IDENTITY_TRUST_ANCHORS", /not a CA/],
    [
      "a corrupt anchor",
      { trustAnchorsPem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
      "TRELLIS_E_IDENTITY_TRUST_ANCHORS",
      /does not parse/,
    ],
    ["garbage issuer", { issuerCertPem: "" }, "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE", /\/etc\/issuer\.crt/],
    [
      "a leaf as issuer",
      { issuerCertPem: leaf.certPem },
      "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE",
      /not a CA/,
    ],
    [
      "an issuer from another root",
      { issuerCertPem: foreign.issuer.certPem, issuerKeyPem: foreign.issuer.keyPem },
      "TRELLIS_E_IDENTITY_ISSUER_UNTRUSTED",
      /\/etc\/issuer\.crt.*not signed by any certificate in \/etc\/ca\.crt/,
    ],
    [
      "an expired issuer",
      {
        trustAnchorsPem: expiredAnchor.certPem,
        issuerCertPem: expiredIssuer.certPem,
        issuerKeyPem: expiredIssuer.keyPem,
      },
      "TRELLIS_E_IDENTITY_ISSUER_EXPIRED",
      /\/etc\/issuer\.crt.*not now/,
    ],
    [
      "another key",
      { issuerKeyPem: foreign.issuer.keyPem },
      "TRELLIS_E_IDENTITY_ISSUER_KEY",
      /does not match/,
    ],
    ["a garbage key", { issuerKeyPem: "nope" }, "TRELLIS_E_IDENTITY_ISSUER_KEY", /\/etc\/issuer\.key/],
  ];
  for (const [what, override, code, message] of cases) {
    const result = await CertificateAuthority.tryLoad({ ...good, ...override });
    assert.equal(result.ok, false, what);
    if (!result.ok) {
      assert.equal(result.code, code, what);
      assert.match(result.reason, message, what);
    }
    await assert.rejects(CertificateAuthority.load({ ...good, ...override }), (err: unknown) => {
      assert.ok(err instanceof IdentityError);
      assert.equal(err.code, code);
      assert.match(err.message, new RegExp(`^${code}: `));
      return true;
    });
  }
  assert.equal((await CertificateAuthority.tryLoad(good)).ok, true);
});

test("the test PKI's leaves: valid, expired or with a chosen NotAfter, all chaining to the anchor", async () => {
  const anchor = new X509Certificate(pki.anchor.certPem);
  const issuer = new X509Certificate(pki.issuer.certPem);
  const now = Date.now();
  const valid = await pki.leaf(ID);
  const expired = await pki.leaf(ID, { expired: true });
  const chosen = await pki.leaf(ID, { notAfter: new Date(now + 3_600_000) });
  for (const leaf of [valid, expired, chosen]) {
    const [cert, chainIssuer] =
      leaf.certChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const c = new X509Certificate(cert ?? "");
    assert.equal(c.subjectAltName, `URI:${ID}`);
    assert.ok(c.verify(issuer.publicKey) && issuer.verify(anchor.publicKey));
    assert.equal(new X509Certificate(chainIssuer ?? "").fingerprint256, issuer.fingerprint256);
    assert.equal(new X509Certificate(leaf.certPem).fingerprint256, c.fingerprint256);
    assert.ok(c.checkPrivateKey((await import("node:crypto")).createPrivateKey(leaf.keyPem)));
  }
  assert.ok(Date.parse(new X509Certificate(valid.certPem).validTo) > now + 23 * 3_600_000);
  assert.ok(Date.parse(new X509Certificate(expired.certPem).validTo) < now);
  assert.equal(
    Date.parse(new X509Certificate(chosen.certPem).validTo),
    Math.floor((now + 3_600_000) / 1000) * 1000,
  );
  const foreign = await makeForeignPki();
  assert.equal(new X509Certificate(foreign.anchor.certPem).fingerprint256 === anchor.fingerprint256, false);
  assert.equal(new X509Certificate((await foreign.leaf(ID)).certPem).verify(issuer.publicKey), false);
});
