// The identity service in process over real grpc-js TLS: who gets a certificate and who does not, with
// exactly the status codes identity.proto documents, the service's own certificate, garbage on both
// ports, and the metrics that count it all.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { status } from "@grpc/grpc-js";
import { stringify } from "yaml";
import { CertificateAuthority, createIssuer, createTrustAnchor } from "../../../control/identity/ca.js";
import { KubernetesTokenVerifier } from "../../../control/identity/kubernetes-verifier.js";
import { IdentityMetrics } from "../../../control/identity/metrics.js";
import { Certifier } from "../../../control/identity/service.js";
import { freePort } from "../../lib/identity/helpers.js";
import { makeCsr } from "../../support/pki.js";
import { adminGet, certify, SERVICE_ID, sample, startHarness, tempDir } from "./harness.js";

const A = "spiffe://cluster.local/ns/shop/sa/web";
const B = "spiffe://cluster.local/ns/shop/sa/admin";

test("a token for a ServiceAccount gets a leaf for exactly that identity, from a server that is the identity service", async (t) => {
  const h = await startHarness(t);
  const { csrDer, keys } = await makeCsr(A);
  const result = await certify(h.service.listen, h.pki.anchor.certPem, {
    identity: A,
    token: await h.token("shop", "web"),
    certificateSigningRequest: csrDer,
  });
  assert.equal(result.code, status.OK, result.details);
  assert.deepEqual(result.serverIds, [SERVICE_ID]);

  const leaf = new X509Certificate(result.response?.leafCertificate ?? Buffer.alloc(0));
  assert.equal(leaf.subjectAltName, `URI:${A}`);
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
  assert.deepEqual(leaf.publicKey.export({ type: "spki", format: "der" }), spki);
  const issuer = new X509Certificate(h.pki.issuer.certPem);
  assert.ok(leaf.verify(issuer.publicKey));
  assert.deepEqual(result.response?.intermediateCertificates, [issuer.raw]);
  assert.equal(result.response?.validUntil?.getTime(), Date.parse(leaf.validTo));

  // The served certificate: the service's SPIFFE ID as its only URI SAN, chained by the issuer.
  const served = new X509Certificate(result.serverCertDer ?? Buffer.alloc(0));
  assert.equal(served.subjectAltName, `URI:${SERVICE_ID}`);
  assert.ok(served.verify(issuer.publicKey));
  assert.equal(served.ca, false);
});

test("every refusal has the documented status code, and the five codes are distinct", async (t) => {
  const h = await startHarness(t);
  const anchor = h.pki.anchor.certPem;
  const call = (identity: string, token: Buffer, csr: Uint8Array) =>
    certify(h.service.listen, anchor, { identity, token, certificateSigningRequest: csr });
  const tokenA = await h.token("shop", "web");
  const csrA = (await makeCsr(A)).csrDer;
  const csrB = (await makeCsr(B)).csrDer;
  const foreignKeyHarnessToken = await (async () => {
    const { createLocalTokenKey, mintLocalToken } = await import("../../../control/local/tokens.js");
    const other = await createLocalTokenKey();
    return Buffer.from(
      await mintLocalToken(other.privateKeyPem, {
        namespace: "shop",
        serviceAccount: "web",
        ttlSeconds: 600,
      }),
    );
  })();
  const { importPKCS8, SignJWT } = await import("jose");
  const now = Math.floor(Date.now() / 1000);
  const expired = Buffer.from(
    await new SignJWT({})
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("trellis-local")
      .setAudience("identity.trellis.dev")
      .setSubject("system:serviceaccount:shop:web")
      .setIssuedAt(now - 600)
      .setExpirationTime(now - 60)
      .sign(await importPKCS8(h.tokenKey.privateKeyPem, "ES256")),
  );

  const cases: [string, Promise<{ code: status; details: string }>, status, RegExp][] = [
    // INVALID_ARGUMENT: missing or malformed fields.
    [
      "no identity",
      call("", tokenA, csrA),
      status.INVALID_ARGUMENT,
      /TRELLIS_E_IDENTITY_MISSING_FIELD.*identity/,
    ],
    ["no token", call(A, Buffer.alloc(0), csrA), status.INVALID_ARGUMENT, /MISSING_FIELD.*token/],
    [
      "no CSR",
      call(A, tokenA, new Uint8Array()),
      status.INVALID_ARGUMENT,
      /MISSING_FIELD.*certificate_signing_request/,
    ],
    ["not a SPIFFE ID", call("web.shop", tokenA, csrA), status.INVALID_ARGUMENT, /BAD_IDENTITY/],
    [
      "another trust domain",
      call("spiffe://evil.org/ns/shop/sa/web", tokenA, csrA),
      status.INVALID_ARGUMENT,
      /BAD_IDENTITY/,
    ],
    [
      "a CSR that is not DER",
      call(A, tokenA, Buffer.from("hello")),
      status.INVALID_ARGUMENT,
      /CSR_MALFORMED/,
    ],
    // UNAUTHENTICATED: the token does not authenticate.
    ["a garbage token", call(A, Buffer.from("garbage"), csrA), status.UNAUTHENTICATED, /TOKEN_REJECTED/],
    [
      "a token of another key",
      call(A, foreignKeyHarnessToken, csrA),
      status.UNAUTHENTICATED,
      /TOKEN_REJECTED/,
    ],
    ["an expired token", call(A, expired, csrA), status.UNAUTHENTICATED, /TOKEN_REJECTED.*exp/],
    // PERMISSION_DENIED: a token for a never yields b.
    [
      "a's token asking for b",
      call(B, tokenA, csrB),
      status.PERMISSION_DENIED,
      /IDENTITY_MISMATCH.*shop\/sa\/web/,
    ],
    [
      "a's token, a's identity, b's CSR",
      call(A, tokenA, csrB),
      status.PERMISSION_DENIED,
      /CSR_IDENTITY_MISMATCH/,
    ],
    // FAILED_PRECONDITION: other SANs or another key type.
    [
      "a DNS SAN",
      makeCsr(A, [
        { type: "url", value: A },
        { type: "dns", value: "web.shop.svc" },
      ]).then((c) => call(A, tokenA, c.csrDer)),
      status.FAILED_PRECONDITION,
      /CSR_EXTRA_SANS/,
    ],
    [
      "a P-384 key",
      makeCsr(A, undefined, { name: "ECDSA", namedCurve: "P-384" }).then((c) => call(A, tokenA, c.csrDer)),
      status.FAILED_PRECONDITION,
      /CSR_KEY_TYPE/,
    ],
  ];
  const seen = new Set<status>();
  for (const [what, pending, code, details] of cases) {
    const result = await pending;
    assert.equal(result.code, code, `${what}: got ${status[result.code]} ${result.details}`);
    assert.match(result.details, details, what);
    seen.add(result.code);
  }

  // UNAVAILABLE: the token cannot be reviewed (the API server is down).
  const dir = await tempDir(t);
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "c",
          cluster: { server: `https://127.0.0.1:${await freePort()}`, "insecure-skip-tls-verify": true },
        },
      ],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    }),
  );
  const down = await startHarness(t, {
    verifier: KubernetesTokenVerifier.fromOptions({ kubeconfig, timeoutMs: 5_000 }),
  });
  const unavailable = await certify(down.service.listen, down.pki.anchor.certPem, {
    identity: A,
    token: tokenA,
    certificateSigningRequest: csrA,
  });
  assert.equal(unavailable.code, status.UNAVAILABLE, unavailable.details);
  assert.match(unavailable.details, /TOKEN_REVIEW_FAILED/);
  seen.add(unavailable.code);

  assert.deepEqual(
    [...seen].sort(),
    [
      status.INVALID_ARGUMENT,
      status.UNAUTHENTICATED,
      status.PERMISSION_DENIED,
      status.FAILED_PRECONDITION,
      status.UNAVAILABLE,
    ].sort(),
  );

  // The metrics count the refusals by gRPC code name, and no leaf was issued.
  const metrics = (await adminGet(h.service.admin, "/metrics")).body;
  assert.equal(sample(metrics, "identity_certify_errors_total", 'code="INVALID_ARGUMENT"'), 6);
  assert.equal(sample(metrics, "identity_certify_errors_total", 'code="UNAUTHENTICATED"'), 3);
  assert.equal(sample(metrics, "identity_certify_errors_total", 'code="PERMISSION_DENIED"'), 2);
  assert.equal(sample(metrics, "identity_certify_errors_total", 'code="FAILED_PRECONDITION"'), 2);
  assert.equal(sample(metrics, "identity_issued_leaf_certificates_total"), 0);
});

test("an issuer that is no longer valid signs nothing: UNAVAILABLE", async () => {
  const start = new Date(Date.now() - 10 * 3600_000);
  const anchor = await createTrustAnchor({ trustDomain: "cluster.local", now: start });
  const issuer = await createIssuer(anchor, {
    trustDomain: "cluster.local",
    now: start,
    lifetimeMs: 3600_000,
  });
  // Loaded while it was valid (as a running service would have), used after it expired.
  const ca = await CertificateAuthority.load({
    trustAnchorsPem: anchor.certPem,
    issuerCertPem: issuer.certPem,
    issuerKeyPem: issuer.keyPem,
    now: new Date(start.getTime() + 60_000),
  });
  const certifier = new Certifier({
    trustDomain: "cluster.local",
    verifier: { verify: async () => ({ ok: true, namespace: "shop", serviceAccount: "web" }) },
    ca: () => ca,
    lifetimeMs: 3600_000,
    clockSkewMs: 20_000,
  });
  const outcome = await certifier.certify({
    identity: A,
    token: Buffer.from("checked by the stub above"),
    certificateSigningRequest: Buffer.from((await makeCsr(A)).csrDer),
  });
  assert.equal(!outcome.ok && outcome.code, "TRELLIS_E_IDENTITY_NO_VALID_ISSUER");
  new IdentityMetrics(() => ca); // the gauges read an expired issuer without throwing
});

test("garbage on the gRPC port and on the admin port does not stop the service", async (t) => {
  const h = await startHarness(t);
  const [host, port] = [h.service.listen.split(":")[0] as string, Number(h.service.listen.split(":")[1])];
  const [ahost, aport] = [h.service.admin.split(":")[0] as string, Number(h.service.admin.split(":")[1])];

  // Raw bytes until the server hangs up.
  const blast = (p: number, payload: Buffer | string) =>
    new Promise<void>((resolve) => {
      const socket = netConnect(p, host, () => socket.end(payload));
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      socket.resume();
      socket.setTimeout(10_000, () => socket.destroy());
    });
  await blast(port, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x02, 0x03]));
  await blast(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await blast(port, Buffer.alloc(64 * 1024, 0xaa));
  // A TLS client that completes the handshake and then sends garbage instead of HTTP/2.
  await new Promise<void>((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () =>
      socket.end("this is not http2"),
    );
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
    socket.resume();
    socket.setTimeout(10_000, () => socket.destroy());
  });

  await blast(aport, Buffer.alloc(16 * 1024, 0x00));
  await blast(aport, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`);
  await blast(aport, "NOT-HTTP\r\n\r\n");
  const oversized = await new Promise<string>((resolve) => {
    let answer = "";
    const socket = netConnect(aport, ahost, () =>
      socket.write(`GET /live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(32 * 1024)}\r\n\r\n`),
    );
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      answer += d;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", () => resolve(answer));
    socket.setTimeout(10_000, () => socket.destroy());
  });
  assert.match(oversized, /^HTTP\/1\.1 431/);
  assert.equal((await adminGet(h.service.admin, "/nope")).status, 404);
  const post = await fetch(`http://${h.service.admin}/metrics`, {
    method: "POST",
    body: "x".repeat(100_000),
  });
  assert.equal(post.status, 405);

  // Still serving, on both ports.
  assert.equal((await adminGet(h.service.admin, "/live")).status, 200);
  assert.equal((await adminGet(h.service.admin, "/ready")).status, 200);
  const { csrDer } = await makeCsr(A);
  const result = await certify(h.service.listen, h.pki.anchor.certPem, {
    identity: A,
    token: await h.token("shop", "web"),
    certificateSigningRequest: csrDer,
  });
  assert.equal(result.code, status.OK, result.details);
});

test("metrics: leaves issued, the issuer's expiry and remaining life", async (t) => {
  const h = await startHarness(t);
  for (let i = 0; i < 3; i++) {
    const result = await certify(h.service.listen, h.pki.anchor.certPem, {
      identity: A,
      token: await h.token("shop", "web"),
      certificateSigningRequest: (await makeCsr(A)).csrDer,
    });
    assert.equal(result.code, status.OK, result.details);
  }
  const { status: code, body } = await adminGet(h.service.admin, "/metrics");
  assert.equal(code, 200);
  // The service's own serving certificate is not counted: it is not issued to a Certify caller.
  assert.equal(sample(body, "identity_issued_leaf_certificates_total"), 3);
  const notAfter = Date.parse(new X509Certificate(h.pki.issuer.certPem).validTo) / 1000;
  assert.equal(sample(body, "identity_issuer_expiration_timestamp_seconds"), notAfter);
  const ttl = sample(body, "identity_issuer_cert_ttl_seconds");
  assert.ok(ttl > 0 && ttl <= notAfter - Date.now() / 1000 + 1, `ttl ${ttl}`);
});
