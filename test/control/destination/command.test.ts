// `trellis-controller destination` as a process: the ready line, a real client streaming from it while
// a file changes, the admin endpoints, the exit codes (2 for bad or missing flags, 1 for an unreadable
// directory or kubeconfig) and a clean stop on SIGTERM.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { DestinationClient } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { type Child, exitWithin, repoRoot, startCommand } from "../../support/process.js";
import { addrsOf, adminGet, get, sample, serviceYaml, tempDir, writeYaml } from "./harness.js";

const MAIN = join(repoRoot, "control/main.ts");
const EXIT_TIMEOUT_MS = 30_000;
const exitOf = (child: Child) => exitWithin(child, EXIT_TIMEOUT_MS);

function controller(t: TestContext, args: string[]): Child {
  return startCommand(t, process.execPath, ["--import", "tsx", MAIN, "destination", ...args]);
}

test("serves the local directory: ready line, a stream that follows a file edit, admin, SIGTERM exits 0", async (t) => {
  const dir = await tempDir(t);
  await writeYaml(dir, "web.yaml", serviceYaml("web", "shop", ["10.1.0.1"]));
  const child = controller(t, [
    "--source=local",
    `--local-dir=${dir}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    "--trust-domain=example.org",
  ]);
  const ready = await child.ready<Record<string, unknown>>(EXIT_TIMEOUT_MS);
  assert.deepEqual(Object.keys(ready), ["ready", "listen", "admin"]);
  assert.match(String(ready.listen), /^127\.0\.0\.1:[1-9]\d*$/);
  const client = new DestinationClient(String(ready.listen), grpc.credentials.createInsecure());
  t.after(() => client.close());
  const s = get(t, client, "web.shop.svc.cluster.local:80");
  const first = await s.next();
  assert.deepEqual(addrsOf(first), ["10.1.0.1:8080"]);
  assert.equal(
    first.update?.$case === "add" && first.update.value.addrs[0]?.identity,
    "spiffe://example.org/ns/shop/sa/default",
  );
  await writeYaml(dir, "web.yaml", serviceYaml("web", "shop", ["10.1.0.1", "10.1.0.2"]));
  assert.deepEqual(addrsOf(await s.next((m) => m.update?.$case === "add", 1)), ["10.1.0.2:8080"]);

  const admin = String(ready.admin);
  assert.equal((await adminGet(admin, "/ready")).status, 200);
  assert.equal((await adminGet(admin, "/live")).status, 200);
  assert.equal(sample((await adminGet(admin, "/metrics")).body, "destination_streams", 'rpc="Get"'), 1);
  child.process.kill("SIGTERM");
  assert.equal(await exitOf(child), 0);
});

test("usage errors exit 2 naming the flag; an unreadable directory or kubeconfig exits 1 naming it", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--source=local"], /--local-dir is required with --source=local/],
    [["--source=nope"], /--source.*nope/],
    [["--source=local", "--local-dir=/tmp", "--listen=nowhere"], /--listen.*expected host:port/],
    [["--source=local", "--local-dir=/tmp", "--cluster-domain=Not Valid"], /--cluster-domain.*DNS name/],
    [["--bogus"], /unknown option '--bogus'/],
    [
      [
        "--source=local",
        "--local-dir=/tmp",
        "--identity-svc-addr=127.0.0.1:8080",
        "--trust-anchors-file=/tmp/a",
      ],
      /--identity-token-file is required with --identity-svc-addr/,
    ],
    [
      [
        "--source=local",
        "--local-dir=/tmp",
        "--identity-svc-addr=127.0.0.1:8080",
        "--identity-token-file=/tmp/t",
      ],
      /--trust-anchors-file is required with --identity-svc-addr/,
    ],
    [
      ["--source=local", "--local-dir=/tmp", "--identity-token-file=/tmp/t"],
      /--identity-token-file needs --identity-svc-addr/,
    ],
    [["--source=local", "--local-dir=/tmp", "--identity-svc-name=web"], /--identity-svc-name.*SPIFFE ID/],
    [["--source=local", "--local-dir=/tmp", "--identity-namespace=Bad_NS"], /--identity-namespace.*DNS-1123/],
  ];
  for (const [args, message] of cases) {
    const child = controller(t, args);
    assert.equal(await exitOf(child), 2, `${args.join(" ")}: ${child.stderr()}`);
    assert.match(child.stderr(), message, args.join(" "));
  }
  const missing = join(await tempDir(t), "nope");
  const child = controller(t, [
    "--source=local",
    `--local-dir=${missing}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
  ]);
  assert.equal(await exitOf(child), 1);
  assert.match(child.stderr(), /TRELLIS_E_DESTINATION_LOCAL_DIR/);
  assert.ok(child.stderr().includes(missing), child.stderr());
  const noKube = controller(t, [
    `--kubeconfig=${missing}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
  ]);
  assert.equal(await exitOf(noKube), 1);
  assert.match(
    noKube.stderr(),
    /TRELLIS_E_DESTINATION_KUBERNETES: cannot reach the Kubernetes API: --kubeconfig /,
  );
  // The service's certificate: unreadable anchors, and anchors that are no certificate.
  const dir = await tempDir(t);
  const identityArgs = (anchors: string) => [
    "--source=local",
    `--local-dir=${dir}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
    "--identity-svc-addr=127.0.0.1:1",
    `--identity-token-file=${join(dir, "token")}`,
    `--trust-anchors-file=${anchors}`,
  ];
  const noAnchors = controller(t, identityArgs(missing));
  assert.equal(await exitOf(noAnchors), 1);
  assert.match(noAnchors.stderr(), /TRELLIS_E_DESTINATION_IDENTITY.*--trust-anchors-file /);
  assert.ok(noAnchors.stderr().includes(missing), noAnchors.stderr());
  const garbage = join(dir, "garbage.pem");
  await writeFile(garbage, "not a certificate\n");
  const badAnchors = controller(t, identityArgs(garbage));
  assert.equal(await exitOf(badAnchors), 1);
  assert.match(badAnchors.stderr(), /TRELLIS_E_DESTINATION_IDENTITY.*trustAnchorsPem/);
});
