// The identity client against an identity service stand-in (real grpc-js, real TLS, real CSRs): first
// certificate, renewal, token rotation, refusing an impostor service, retrying until the service is up.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { before, type TestContext, test } from "node:test";
import * as tls from "node:tls";
import { status as grpcStatus } from "@grpc/grpc-js";
import { IdentityClient, type IdentityClientOptions } from "../../../lib/identity/client.js";
import type { Credentials } from "../../../lib/identity/credentials.js";
import { createTestPki, type TestPki } from "../../support/pki.js";
import { FakeIdentityService } from "./fake-service.js";
import { freePort, nextCredentials, nextTransition, tokenFile } from "./helpers.js";

const ID = "spiffe://cluster.local/ns/shop/sa/web";
const SVC = "spiffe://cluster.local/ns/trellis/sa/trellis-identity";
const TOKEN = "token-for-web";
const ROTATED = "rotated-token-for-web";

let pki: TestPki;
before(async () => {
  pki = await createTestPki();
});

async function service(t: TestContext, lifetimeMs = 60_000, svcName = SVC, port = 0) {
  const tokens = new Map([
    [TOKEN, ID],
    [ROTATED, ID],
  ]);
  const fake = new FakeIdentityService({ pki, svcName, lifetimeMs, tokens });
  const addr = await fake.start(port);
  t.after(() => fake.stop());
  return { fake, addr };
}

function client(
  t: TestContext,
  overrides: Partial<IdentityClientOptions> & Pick<IdentityClientOptions, "svcAddr" | "tokenFile">,
) {
  const c = new IdentityClient({
    identity: ID,
    trustAnchorsPem: pki.anchor.certPem,
    svcName: SVC,
    minRefreshMs: 50,
    maxRefreshMs: 3_600_000,
    retryBaseMs: 50,
    retryMaxMs: 300,
    ...overrides,
  });
  t.after(() => c.stop());
  return c;
}

function leafOf(c: Credentials): X509Certificate {
  return new X509Certificate(c.certChainPem);
}

test("the first certificate names our identity, is for our key, chains to the anchor and works in TLS", async (t) => {
  const { fake, addr } = await service(t);
  const token = await tokenFile(t, `${TOKEN}\n`);
  const c = client(t, { svcAddr: addr, tokenFile: token.path });
  const first = nextCredentials(c);
  c.start();
  const creds = await first;

  assert.equal(creds.identity, ID);
  const leaf = leafOf(creds);
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(leaf.ca, false);
  const ours = createPublicKey(createPrivateKey(creds.keyPem)).export({ type: "spki", format: "der" });
  assert.deepEqual(leaf.publicKey.export({ type: "spki", format: "der" }), ours);
  const issuer = new X509Certificate(pki.issuer.certPem);
  const anchor = new X509Certificate(pki.anchor.certPem);
  assert.ok(leaf.verify(issuer.publicKey) && issuer.verify(anchor.publicKey));
  assert.equal(creds.notAfter.getTime(), Date.parse(leaf.validTo));
  assert.deepEqual(c.status().notAfter, creds.notAfter);
  assert.equal(c.refreshCount, 1);
  assert.equal(c.status().state, "ready");
  assert.deepEqual(fake.seen, [{ identity: ID, token: TOKEN, csrSubject: "", csrUris: [ID] }]);

  // node:tls accepts the chain and key as they are, and a peer trusting the anchor verifies them.
  const server = tls.createServer({ cert: creds.certChainPem, key: creds.keyPem }, (s) => s.end("ok"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: pki.anchor.certPem,
    checkServerIdentity: () => undefined,
  });
  await once(socket, "secureConnect");
  assert.ok(socket.authorized);
  assert.equal(socket.getPeerX509Certificate()?.subjectAltName, `URI:${ID}`);
  socket.destroy();
});

test("renews on its schedule and hands every new certificate to subscribers", async (t) => {
  // Day-long leaves renewed at the refresh bound, so no renewal races an expiry however busy the
  // machine; when in a leaf's life the renewal falls is refreshDelayMs's (timing.test.ts). The bound
  // is over a second, the resolution of a certificate's times.
  const { addr } = await service(t, 86_400_000);
  const token = await tokenFile(t, TOKEN);
  const c = client(t, { svcAddr: addr, tokenFile: token.path, maxRefreshMs: 1100 });
  const received: Credentials[] = [];
  c.subscribe((creds) => received.push(creds));
  c.start();
  await nextCredentials(c);
  await nextCredentials(c);
  await nextCredentials(c);

  assert.equal(received.length, 3);
  for (let i = 1; i < received.length; i++) {
    const prev = received[i - 1]!;
    const next = received[i]!;
    assert.ok(next.notAfter > prev.notAfter, `renewal ${i} is a later certificate`);
    assert.notEqual(next.keyPem, prev.keyPem, "every renewal rotates the key");
  }
  assert.equal(c.refreshCount, 3);
  let late: Credentials | undefined;
  c.subscribe((creds) => {
    late = creds;
  });
  assert.equal(late, c.current(), "a late subscriber gets the current certificate at once");
});

test("re-reads the token on every call: a bad token fails renewal while the old certificate is served", async (t) => {
  const { fake, addr } = await service(t, 6000);
  const token = await tokenFile(t, TOKEN);
  const c = client(t, { svcAddr: addr, tokenFile: token.path, retryBaseMs: 100, retryMaxMs: 400 });
  const first = nextCredentials(c);
  c.start();
  const original = await first;

  await token.replace("not-a-valid-token");
  const failed = await nextTransition(c, (tr) => tr.to === "backoff");
  assert.equal(failed.from, "refreshing");
  assert.equal(failed.failure?.code, "TRELLIS_E_IDENTITY_CLIENT_RPC");
  assert.equal(failed.failure?.grpcCode, grpcStatus.UNAUTHENTICATED);
  assert.equal(fake.seen.at(-1)?.token, "not-a-valid-token");
  assert.equal(c.current(), original, "the valid certificate keeps being served during backoff");

  await token.replace(ROTATED);
  const renewed = await nextCredentials(c);
  assert.equal(fake.seen.at(-1)?.token, ROTATED);
  assert.ok(renewed.notAfter > original.notAfter);
  assert.equal(c.status().state, "ready");
  assert.ok(c.status().failures >= 1);
});

test("refuses an identity service presenting another SPIFFE ID, before sending the token", async (t) => {
  const { fake, addr } = await service(t, 60_000, "spiffe://cluster.local/ns/trellis/sa/impostor");
  const token = await tokenFile(t, TOKEN);
  const c = client(t, { svcAddr: addr, tokenFile: token.path });
  c.start();
  const failed = await nextTransition(c, (tr) => tr.to === "backoff");
  assert.equal(failed.from, "certifying");
  assert.equal(failed.failure?.code, "TRELLIS_E_IDENTITY_CLIENT_SERVER_IDENTITY");
  assert.match(failed.failure?.message ?? "", /impostor/);
  assert.equal(fake.seen.length, 0, "the token never reached the impostor");
  assert.equal(c.current(), undefined);
});

test("refuses an identity service whose certificate does not chain to the trust anchors", async (t) => {
  const other = await createTestPki("other");
  const fake = new FakeIdentityService({
    pki: other,
    svcName: SVC,
    lifetimeMs: 60_000,
    tokens: new Map([[TOKEN, ID]]),
  });
  const addr = await fake.start();
  t.after(() => fake.stop());
  const token = await tokenFile(t, TOKEN);
  const c = client(t, { svcAddr: addr, tokenFile: token.path });
  c.start();
  const failed = await nextTransition(c, (tr) => tr.to === "backoff");
  assert.equal(failed.failure?.code, "TRELLIS_E_IDENTITY_CLIENT_RPC");
  assert.equal(failed.failure?.grpcCode, grpcStatus.UNAVAILABLE);
  assert.equal(fake.seen.length, 0);
});

test("retries with backoff while the identity service is down at start, then certifies", async (t) => {
  const port = await freePort();
  const token = await tokenFile(t, TOKEN);
  const c = client(t, {
    svcAddr: `127.0.0.1:${port}`,
    tokenFile: token.path,
    retryBaseMs: 50,
    retryMaxMs: 200,
  });
  const failures: number[] = [];
  c.onTransition((tr) => {
    if (tr.to === "backoff") failures.push(tr.failure?.grpcCode ?? -1);
  });
  c.start();
  await nextTransition(c, (tr) => tr.to === "backoff");
  await nextTransition(c, (tr) => tr.to === "backoff");
  assert.ok(failures.every((code) => code === grpcStatus.UNAVAILABLE));
  assert.equal(c.status().state, "backoff");

  const certified = nextCredentials(c);
  await service(t, 60_000, SVC, port);
  const creds = await certified;
  assert.equal(creds.identity, ID);
  assert.ok(c.status().failures >= 2);
});

test("a token file that cannot be read is a failed attempt, not a crash", async (t) => {
  const { fake, addr } = await service(t);
  const c = client(t, { svcAddr: addr, tokenFile: "/nonexistent/trellis/token" });
  c.start();
  const failed = await nextTransition(c, (tr) => tr.to === "backoff");
  assert.equal(failed.failure?.code, "TRELLIS_E_IDENTITY_CLIENT_TOKEN");
  assert.match(failed.failure?.message ?? "", /\/nonexistent\/trellis\/token/);
  assert.equal(fake.seen.length, 0);
});

test("dials the identity service by host name too: only the SPIFFE ID is checked, not the name", async (t) => {
  const { addr } = await service(t);
  const token = await tokenFile(t, TOKEN);
  const c = client(t, { svcAddr: addr.replace("127.0.0.1", "localhost"), tokenFile: token.path });
  const first = nextCredentials(c);
  c.start();
  assert.equal((await first).identity, ID);
});
