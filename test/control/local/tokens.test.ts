// Local ServiceAccount tokens: what mintLocalToken makes, and the verifier refusing everything that is
// not exactly such a token signed by the mesh's key.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT } from "jose";
import { createLocalTokenKey, LocalTokenVerifier, mintLocalToken } from "../../../control/local/tokens.js";

test("a minted token is an ES256 JWT for the identity audience naming the ServiceAccount", async () => {
  const key = await createLocalTokenKey();
  const token = await mintLocalToken(key.privateKeyPem, {
    namespace: "shop",
    serviceAccount: "web",
    ttlSeconds: 600,
  });
  assert.equal(decodeProtectedHeader(token).alg, "ES256");
  const claims = decodeJwt(token);
  assert.equal(claims.iss, "trellis-local");
  assert.equal(claims.aud, "identity.trellis.dev");
  assert.equal(claims.sub, "system:serviceaccount:shop:web");
  assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);

  const verifier = await LocalTokenVerifier.fromPublicKeyPem(key.publicKeyPem);
  assert.deepEqual(await verifier.verify(token), { ok: true, namespace: "shop", serviceAccount: "web" });
});

test("the local verifier refuses other keys, audiences, issuers, expired tokens, bad subjects and garbage", async () => {
  const key = await createLocalTokenKey();
  const other = await createLocalTokenKey();
  const verifier = await LocalTokenVerifier.fromPublicKeyPem(key.publicKeyPem);
  const signer = await importPKCS8(key.privateKeyPem, "ES256");
  const now = Math.floor(Date.now() / 1000);
  const jwt = (claims: { iss?: string; aud?: string; sub?: string; exp?: number }) => {
    let j = new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setIssuedAt(now - 10);
    if (claims.iss !== undefined) j = j.setIssuer(claims.iss);
    if (claims.aud !== undefined) j = j.setAudience(claims.aud);
    if (claims.sub !== undefined) j = j.setSubject(claims.sub);
    if (claims.exp !== undefined) j = j.setExpirationTime(claims.exp);
    return j.sign(signer);
  };
  const good = {
    iss: "trellis-local",
    aud: "identity.trellis.dev",
    sub: "system:serviceaccount:shop:web",
    exp: now + 60,
  };
  assert.equal((await verifier.verify(await jwt(good))).ok, true);

  const valid = await mintLocalToken(key.privateKeyPem, {
    namespace: "shop",
    serviceAccount: "web",
    ttlSeconds: 60,
  });
  const [h, p, s] = valid.split(".") as [string, string, string];
  const bad: [string, string][] = [
    [
      "another key",
      await mintLocalToken(other.privateKeyPem, { namespace: "shop", serviceAccount: "web", ttlSeconds: 60 }),
    ],
    ["another audience", await jwt({ ...good, aud: "kubernetes" })],
    ["another issuer", await jwt({ ...good, iss: "someone" })],
    ["expired", await jwt({ ...good, exp: now - 120 })],
    ["no expiry", await jwt({ ...good, exp: undefined })],
    ["a user, not a ServiceAccount", await jwt({ ...good, sub: "alice" })],
    ["a malformed ServiceAccount", await jwt({ ...good, sub: "system:serviceaccount:Shop:web" })],
    ["alg none", `${Buffer.from('{"alg":"none"}').toString("base64url")}.${p}.`],
    [
      "a tampered payload",
      `${h}.${Buffer.from('{"sub":"system:serviceaccount:kube-system:admin"}').toString("base64url")}.${s}`,
    ],
    ["garbage", "garbage"],
    ["empty", ""],
    ["huge", "a".repeat(100_000)],
  ];
  for (const [what, token] of bad) {
    const verdict = await verifier.verify(token);
    assert.equal(verdict.ok, false, what);
    assert.ok(!verdict.ok && verdict.reason.length > 0 && !verdict.unavailable, what);
  }
});

test("the local verifier takes only an EC P-256 public key", async () => {
  await assert.rejects(LocalTokenVerifier.fromPublicKeyPem("not a key"));
  const { generateKeyPairSync } = await import("node:crypto");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({
    type: "spki",
    format: "pem",
  });
  await assert.rejects(LocalTokenVerifier.fromPublicKeyPem(rsa.toString()), /EC P-256/);
});

test("a certificate or private key given as the token public key is refused", async () => {
  const key = await createLocalTokenKey();
  assert.throws(() => new LocalTokenVerifier(key.privateKeyPem), /PEM public key/);
  const { makeMeshPki } = await import("../../support/pki.js");
  const pki = await makeMeshPki();
  assert.throws(() => new LocalTokenVerifier(pki.issuer.certPem), /PEM public key/);
  assert.equal((await new LocalTokenVerifier(key.publicKeyPem).verify("x")).ok, false);
});
