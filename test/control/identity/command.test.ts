// `trellis-controller identity` as a process, started the way a pod or the local mesh starts it: the
// ready line, the real proxy identity client certifying and renewing end to end, the exit codes (1 for
// unusable files, naming them; 2 for bad flags, naming them) and a graceful stop on SIGTERM.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { createIssuer, createTrustAnchor } from "../../../control/identity/ca.js";
import { createLocalTokenKey, mintLocalToken } from "../../../control/local/tokens.js";
import { IdentityClient } from "../../../lib/identity/client.js";
import { nextCredentials } from "../../lib/identity/helpers.js";
import { makeMeshPki, type PkiFiles } from "../../support/pki.js";
import { type Child, exitWithin, repoRoot, startCommand } from "../../support/process.js";
import { adminGet, sample, tempDir } from "./harness.js";

const MAIN = join(repoRoot, "control/main.ts");
const EXIT_TIMEOUT_MS = 60_000;
const exitOf = (child: Child) => exitWithin(child, EXIT_TIMEOUT_MS);

function controller(t: TestContext, args: string[]): Child {
  return startCommand(t, process.execPath, ["--import", "tsx", MAIN, "identity", ...args]);
}

function fileFlags(files: PkiFiles): string[] {
  return [
    `--trust-anchors-file=${files.trustAnchors}`,
    `--issuer-certificate-file=${files.issuerCert}`,
    `--issuer-key-file=${files.issuerKey}`,
  ];
}

test("the real proxy identity client certifies against the real service and renews", async (t) => {
  const dir = await tempDir(t);
  const pki = await makeMeshPki({ dir });
  const tokenKey = await createLocalTokenKey();
  const keyFile = join(dir, "token-key.pub");
  await writeFile(keyFile, tokenKey.publicKeyPem);
  const child = controller(t, [
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    ...fileFlags(pki.files as PkiFiles),
    "--issuance-lifetime=3s",
    "--token-verifier=local",
    `--local-token-public-key-file=${keyFile}`,
  ]);
  const ready = await child.ready<Record<string, unknown>>(EXIT_TIMEOUT_MS);
  assert.deepEqual(Object.keys(ready), ["ready", "identity", "listen", "admin"]);
  assert.equal(ready.identity, "spiffe://cluster.local/ns/trellis/sa/trellis-identity");
  assert.match(String(ready.listen), /^127\.0\.0\.1:[1-9]\d*$/);
  assert.match(String(ready.admin), /^127\.0\.0\.1:[1-9]\d*$/);
  assert.equal((await adminGet(String(ready.admin), "/ready")).status, 200);

  const identity = "spiffe://cluster.local/ns/shop/sa/web";
  const tokenFile = join(dir, "web.token");
  await writeFile(
    tokenFile,
    await mintLocalToken(tokenKey.privateKeyPem, {
      namespace: "shop",
      serviceAccount: "web",
      ttlSeconds: 600,
    }),
  );
  const client = new IdentityClient({
    identity,
    trustAnchorsPem: pki.anchor.certPem,
    tokenFile,
    svcAddr: String(ready.listen),
    svcName: String(ready.identity),
    minRefreshMs: 100,
    maxRefreshMs: 3_600_000,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
  });
  t.after(() => client.stop());
  const first = nextCredentials(client, 20_000);
  client.start();
  const one = await first;
  assert.equal(one.identity, identity);
  // A 3 s certificate is renewed at 70 % of its life: a second one arrives from the same service.
  const two = await nextCredentials(client, 20_000);
  assert.ok(two.notAfter.getTime() > one.notAfter.getTime());
  assert.notEqual(two.certChainPem, one.certChainPem);

  const metrics = (await adminGet(String(ready.admin), "/metrics")).body;
  assert.ok(sample(metrics, "identity_issued_leaf_certificates_total") >= 2);

  child.process.kill("SIGTERM");
  assert.equal(await exitOf(child), 0);
});

test("--identity-namespace and --identity-service-account set the service's own SPIFFE ID", async (t) => {
  const dir = await tempDir(t);
  const pki = await makeMeshPki({ dir, trustDomain: "example.org" });
  const tokenKey = await createLocalTokenKey();
  await writeFile(join(dir, "k.pub"), tokenKey.publicKeyPem);
  const child = controller(t, [
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    "--trust-domain=example.org",
    "--identity-namespace=mesh",
    "--identity-service-account=ca",
    ...fileFlags(pki.files as PkiFiles),
    "--token-verifier=local",
    `--local-token-public-key-file=${join(dir, "k.pub")}`,
  ]);
  const ready = await child.ready<{ identity: string }>(EXIT_TIMEOUT_MS);
  assert.equal(ready.identity, "spiffe://example.org/ns/mesh/sa/ca");
  child.process.kill("SIGINT");
  assert.equal(await exitOf(child), 0);
});

test("an expired issuer or a missing file at start: exit 1 naming the file", async (t) => {
  const dir = await tempDir(t);
  const tokenKey = await createLocalTokenKey();
  await writeFile(join(dir, "k.pub"), tokenKey.publicKeyPem);
  const local = ["--token-verifier=local", `--local-token-public-key-file=${join(dir, "k.pub")}`];
  const past = new Date(Date.now() - 3 * 3600_000);
  const anchor = await createTrustAnchor({ trustDomain: "cluster.local", now: past });
  const expired = await createIssuer(anchor, {
    trustDomain: "cluster.local",
    now: past,
    lifetimeMs: 3600_000,
  });
  const files: PkiFiles = {
    trustAnchors: join(dir, "ca.crt"),
    issuerCert: join(dir, "expired-issuer.crt"),
    issuerKey: join(dir, "issuer.key"),
  };
  await writeFile(files.trustAnchors, anchor.certPem);
  await writeFile(files.issuerCert, expired.certPem);
  await writeFile(files.issuerKey, expired.keyPem);

  const args = ["--listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0", ...local];
  const child = controller(t, [...args, ...fileFlags(files)]);
  assert.equal(await exitOf(child), 1);
  assert.match(child.stderr(), /TRELLIS_E_IDENTITY_ISSUER_EXPIRED/);
  assert.ok(child.stderr().includes(files.issuerCert), child.stderr());
  assert.equal(child.lines.length, 0, "no ready line");

  const missing = controller(t, [...args, ...fileFlags({ ...files, trustAnchors: join(dir, "nope.crt") })]);
  assert.equal(await exitOf(missing), 1);
  assert.match(missing.stderr(), /TRELLIS_E_IDENTITY_FILE_UNREADABLE/);
  assert.ok(missing.stderr().includes(join(dir, "nope.crt")), missing.stderr());

  const badKey = controller(t, [
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    ...fileFlags(files),
    "--token-verifier=local",
    `--local-token-public-key-file=${files.issuerCert}`,
  ]);
  assert.equal(await exitOf(badKey), 1);
  assert.match(badKey.stderr(), /TRELLIS_E_IDENTITY_TOKEN_KEY.*--local-token-public-key-file/);
});

test("bad flags: exit 2 with a message naming the flag", async (t) => {
  const dir = await tempDir(t);
  const pki = await makeMeshPki({ dir });
  const files = fileFlags(pki.files as PkiFiles);
  const cases: [string[], RegExp][] = [
    [["--issuance-lifetime=forever", ...files], /--issuance-lifetime/],
    [["--issuance-lifetime=0s", ...files], /--issuance-lifetime/],
    [["--clock-skew-allowance=a while", ...files], /--clock-skew-allowance/],
    [["--listen=nowhere", ...files], /--listen/],
    [["--admin-listen=127.0.0.1:99999", ...files], /--admin-listen/],
    [["--token-verifier=magic", ...files], /--token-verifier/],
    [["--trust-domain=Not A Domain", ...files], /--trust-domain/],
    [["--identity-namespace=UPPER", ...files], /--identity-namespace/],
    [files.slice(1), /--trust-anchors-file/],
    [["--token-verifier=local", ...files], /--local-token-public-key-file/],
    [["--no-such-flag", ...files], /--no-such-flag/],
  ];
  // A few at a time: eleven TypeScript processes starting at once starve a small CI machine.
  for (let i = 0; i < cases.length; i += 3) {
    await Promise.all(
      cases.slice(i, i + 3).map(async ([args, message]) => {
        const child = controller(t, args);
        assert.equal(await exitOf(child), 2, `${args.join(" ")}: ${child.stderr()}`);
        assert.match(child.stderr(), message, args.join(" "));
      }),
    );
  }
});
