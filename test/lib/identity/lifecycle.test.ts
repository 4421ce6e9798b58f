// stop() leaves nothing behind: a process whose only work was an identity client exits by itself after
// stop(), whether it stopped with a certificate, during backoff, or with a Certify call in flight. Also
// bad options are refused at construction, all at once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { IdentityClient, type IdentityClientOptions } from "../../../lib/identity/client.js";
import { IdentityClientError } from "../../../lib/identity/errors.js";
import { createTestPki, type TestPki } from "../../support/pki.js";
import { startCommand } from "../../support/process.js";
import { FakeIdentityService } from "./fake-service.js";
import { freePort, tokenFile } from "./helpers.js";

const ID = "spiffe://cluster.local/ns/shop/sa/web";
const SVC = "spiffe://cluster.local/ns/trellis/sa/trellis-identity";
const TOKEN = "token-for-web";
const fixture = fileURLToPath(new URL("./fixtures/stop-and-exit.ts", import.meta.url));

let pki: TestPki;
let fake: FakeIdentityService | undefined;
let addr: string;
before(async () => {
  pki = await createTestPki();
  fake = new FakeIdentityService({ pki, svcName: SVC, lifetimeMs: 60_000, tokens: new Map([[TOKEN, ID]]) });
  addr = await fake.start();
});
after(() => fake?.stop());

function options(tokenPath: string, svcAddr: string): IdentityClientOptions {
  return {
    identity: ID,
    trustAnchorsPem: pki.anchor.certPem,
    tokenFile: tokenPath,
    svcAddr,
    svcName: SVC,
    minRefreshMs: 10_000,
    maxRefreshMs: 3_600_000,
    retryBaseMs: 60_000,
    retryMaxMs: 120_000,
  };
}

for (const mode of ["after-certificate", "in-backoff", "in-flight"] as const) {
  test(`after stop() ${mode}, the process exits by itself`, async (t) => {
    const token = await tokenFile(t, TOKEN);
    const svcAddr = mode === "in-backoff" ? `127.0.0.1:${await freePort()}` : addr;
    const child = startCommand(t, process.execPath, ["--import", "tsx", fixture, mode], {
      FIXTURE_OPTIONS: JSON.stringify(options(token.path, svcAddr)),
    });
    await child.waitForLine((l) => l.startsWith("stopped"), 30_000);
    // Long refresh and retry delays above: only a leaked timer or handle could keep it alive now.
    const exit = await Promise.race([
      child.exited,
      new Promise((r) => setTimeout(r, 10_000, "still running")).then(String),
    ]);
    assert.equal(exit, 0, `exit ${exit}; stderr:\n${child.stderr()}`);
  });
}

test("bad options are refused at construction, every problem named", () => {
  assert.throws(
    () =>
      new IdentityClient({
        identity: "web",
        trustAnchorsPem: "not a PEM",
        tokenFile: "",
        svcAddr: "no-port",
        svcName: "spiffe://cluster.local/ns/trellis",
        minRefreshMs: 100,
        maxRefreshMs: 10,
        retryBaseMs: 0,
        retryMaxMs: Number.NaN,
      }),
    (err: unknown) => {
      assert.ok(err instanceof IdentityClientError);
      assert.equal(err.code, "TRELLIS_E_IDENTITY_CLIENT_OPTIONS");
      for (const part of [
        /identity "web"/,
        /svcName/,
        /svcAddr "no-port"/,
        /tokenFile is empty/,
        /no PEM certificate/,
        /retryMaxMs must be/,
        /retryBaseMs must be above 0/,
        /minRefreshMs is above maxRefreshMs/,
      ]) {
        assert.match(err.message, part);
      }
      return true;
    },
  );
});

test("a leaf certificate is refused as a trust anchor", async () => {
  const { serverCertificate } = await import("../../support/pki.js");
  const leaf = await serverCertificate(pki, SVC);
  assert.throws(
    () => new IdentityClient({ ...options("/tmp/t", addr), trustAnchorsPem: leaf.chainPem }),
    /not a CA/,
  );
});

test("start() twice is a bug and throws", async (t) => {
  const token = await tokenFile(t, TOKEN);
  const client = new IdentityClient(options(token.path, addr));
  t.after(() => client.stop());
  client.start();
  assert.throws(() => client.start(), /start\(\) called in state/);
});
