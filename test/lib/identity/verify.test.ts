// What a misbehaving identity service can send, and that none of it is ever served: every broken
// answer is a failed attempt with its own code, and the client keeps retrying.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { IdentityClient } from "../../../lib/identity/client.js";
import type { IdentityClientErrorCode } from "../../../lib/identity/errors.js";
import { createTestPki, type TestPki } from "../../support/pki.js";
import { FakeIdentityService, type Misbehaviour } from "./fake-service.js";
import { nextTransition, tokenFile } from "./helpers.js";

const ID = "spiffe://cluster.local/ns/shop/sa/web";
const SVC = "spiffe://cluster.local/ns/trellis/sa/trellis-identity";
const TOKEN = "token-for-web";

let pki: TestPki;
let fake: FakeIdentityService;
let addr: string;
before(async () => {
  pki = await createTestPki();
  fake = new FakeIdentityService({ pki, svcName: SVC, lifetimeMs: 60_000, tokens: new Map([[TOKEN, ID]]) });
  addr = await fake.start();
});
after(() => fake.stop());

const cases: [Misbehaviour, IdentityClientErrorCode, RegExp][] = [
  ["wrong-key", "TRELLIS_E_IDENTITY_CLIENT_KEY_MISMATCH", /public key/],
  ["wrong-san", "TRELLIS_E_IDENTITY_CLIENT_SAN_MISMATCH", /ns\/other\/sa\/someone/],
  ["ca-leaf", "TRELLIS_E_IDENTITY_CLIENT_SAN_MISMATCH", /CA certificate/],
  ["expired", "TRELLIS_E_IDENTITY_CLIENT_VALIDITY", /valid from/],
  ["untrusted", "TRELLIS_E_IDENTITY_CLIENT_UNTRUSTED", /no trust anchor or intermediate issued/],
  ["garbage", "TRELLIS_E_IDENTITY_CLIENT_MALFORMED", /leaf/],
];

for (const [misbehaviour, code, detail] of cases) {
  test(`a response with ${misbehaviour} is refused (${code}) and never served`, async (t) => {
    fake.misbehaviour = misbehaviour;
    const token = await tokenFile(t, TOKEN);
    const client = new IdentityClient({
      identity: ID,
      trustAnchorsPem: pki.anchor.certPem,
      tokenFile: token.path,
      svcAddr: addr,
      svcName: SVC,
      minRefreshMs: 50,
      maxRefreshMs: 60_000,
      retryBaseMs: 50,
      retryMaxMs: 100,
    });
    t.after(() => client.stop());
    let served = 0;
    client.subscribe(() => served++);
    client.start();
    const failed = await nextTransition(client, (tr) => tr.to === "backoff");
    assert.equal(failed.failure?.code, code);
    assert.match(failed.failure?.message ?? "", detail);
    // It retries, and the retry is refused the same way.
    const again = await nextTransition(client, (tr) => tr.to === "backoff");
    assert.equal(again.failure?.code, code);
    assert.equal(served, 0);
    assert.equal(client.current(), undefined);
    assert.equal(client.refreshCount, 0);
  });
}

test("the service recovers from misbehaving: the next good answer is served", async (t) => {
  fake.misbehaviour = "wrong-san";
  const token = await tokenFile(t, TOKEN);
  const client = new IdentityClient({
    identity: ID,
    trustAnchorsPem: pki.anchor.certPem,
    tokenFile: token.path,
    svcAddr: addr,
    svcName: SVC,
    minRefreshMs: 50,
    maxRefreshMs: 60_000,
    retryBaseMs: 50,
    retryMaxMs: 100,
  });
  t.after(() => client.stop());
  client.start();
  await nextTransition(client, (tr) => tr.to === "backoff");
  fake.misbehaviour = "none";
  const ready = await nextTransition(client, (tr) => tr.to === "ready");
  assert.equal(ready.from, "certifying");
  assert.equal(client.current()?.identity, ID);
});
