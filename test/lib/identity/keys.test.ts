// The proxy's key and CSR, encoded without @peculiar/x509: openssl and the control plane's own CSR
// checks must accept them exactly as they accepted the library's, and the key must be the CSR's key.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { test } from "node:test";
import { checkCsr } from "../../../control/identity/csr.js";
import { children, readWhole, TAG } from "../../../lib/identity/der.js";
import { certificationRequest, generateKeyMaterial, type KeyMaterial } from "../../../lib/identity/keys.js";
import * as x509 from "../../../lib/x509.js";
import { requireTools } from "../../support/tools.js";

const ID = "spiffe://cluster.local/ns/shop/sa/web";
// The longest identity spiffe.ts allows: a 253-character trust domain and 63-character names, so the
// CSR's lengths need two octets.
const LONG_ID = `spiffe://${["a", "b", "c"].map((c) => c.repeat(63)).join(".")}.${"d".repeat(61)}/ns/${"n".repeat(63)}/sa/${"s".repeat(63)}`;

async function keyFor(identity: string): Promise<KeyMaterial> {
  const result = await generateKeyMaterial(identity);
  if (!result.ok) throw new Error(result.error.message);
  return result.key;
}

function csrPem(der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}

function openssl(args: string[], input: string): string {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  assert.equal(r.status, 0, `openssl ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

for (const [name, identity] of [
  ["a usual", ID],
  ["the longest", LONG_ID],
] as const) {
  test(`openssl verifies the CSR for ${name} identity and reads an empty subject and the URI SAN`, async (t) => {
    if (!requireTools(t, "openssl")) return;
    const pem = csrPem((await keyFor(identity)).csrDer);
    assert.match(openssl(["req", "-in", "-", "-noout", "-verify"], pem), /verify OK/);
    const text = openssl(["req", "-in", "-", "-noout", "-text"], pem);
    assert.match(text, /Subject: *\n/);
    assert.match(text, /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/);
    assert.match(text, /Requested Extensions:\s+X509v3 Subject Alternative Name: *\n\s+URI:(\S+)\n/);
    assert.equal(/URI:(\S+)\n/.exec(text)?.[1], identity);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  });

  test(`the control plane's CSR check accepts the CSR for ${name} identity, with our key`, async () => {
    const key = await keyFor(identity);
    const checked = await checkCsr(key.csrDer, identity);
    assert.ok(checked.ok, checked.ok ? "" : `${checked.code}: ${checked.reason}`);
    assert.deepEqual(Buffer.from(checked.publicKey.rawData), key.publicKeySpki);
    const other = await checkCsr(key.csrDer, "spiffe://cluster.local/ns/shop/sa/other");
    assert.equal(other.ok ? "accepted" : other.code, "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH");
  });
}

test("the private key PEM is the key the CSR and publicKeySpki carry", async () => {
  const key = await keyFor(ID);
  assert.match(key.keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
  const privateKey = createPrivateKey(key.keyPem);
  assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const derived = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  assert.deepEqual(derived, key.publicKeySpki);
  const [, , spki] = children(children(readWhole(key.csrDer, TAG.SEQUENCE, "CSR"))[0]!);
  assert.deepEqual(Buffer.from(spki!.input.subarray(spki!.start, spki!.end)), key.publicKeySpki);
});

test("the request info is byte for byte what @peculiar/x509 encoded for the same key", async () => {
  const key = await keyFor(ID);
  const privateKey = createPrivateKey(key.keyPem);
  const alg = { name: "ECDSA", namedCurve: "P-256" } as const;
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" });
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", key.publicKeySpki, alg, true, ["verify"]),
  } as CryptoKeyPair;
  const theirs = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "",
    keys,
    signingAlgorithm: { ...alg, hash: "SHA-256" },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: ID }])],
  });
  const info = (der: Uint8Array): string => {
    const [node] = children(readWhole(der, TAG.SEQUENCE, "CSR"));
    return Buffer.from(node!.input.subarray(node!.start, node!.end)).toString("hex");
  };
  const ours = certificationRequest(ID, key.publicKeySpki, privateKey);
  assert.equal(info(ours), info(new Uint8Array(theirs.rawData)));
  // ECDSA signatures are randomised, so only the algorithm after the info must match too.
  const algorithm = (der: Uint8Array): string => {
    const [, node] = children(readWhole(der, TAG.SEQUENCE, "CSR"));
    return Buffer.from(node!.input.subarray(node!.start, node!.end)).toString("hex");
  };
  assert.equal(algorithm(ours), algorithm(new Uint8Array(theirs.rawData)));
});

test("an identity that IA5String cannot carry is TRELLIS_E_IDENTITY_CLIENT_KEY, not a throw", async () => {
  const result = await generateKeyMaterial("spiffe://cluster.local/ns/shöp/sa/web");
  assert.equal(result.ok ? "ok" : result.error.code, "TRELLIS_E_IDENTITY_CLIENT_KEY");
  assert.match(result.ok ? "" : result.error.message, /not an IA5String/);
});
