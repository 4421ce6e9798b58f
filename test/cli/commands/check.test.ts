// meshctl check's bad inputs, as a user meets them with the built CLI and no cluster: usage errors
// exit 2 with commander's one line; a kubeconfig that cannot be read or an API server that cannot be
// reached is one line and exit 1, never a stack trace. The checks themselves run in
// test/cluster/check.test.ts and, over a fake API, in test/cli/check/.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Run, meshctl as run } from "../../support/meshctl.js";

const meshctl = (args: string[], env: Record<string, string> = {}): Promise<Run> => run(args, { env });

/** A kubeconfig naming an API server nothing listens on. */
function deadKubeconfig(): string {
  const path = join(mkdtempSync(join(tmpdir(), "meshctl-check-")), "kubeconfig");
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}, {name: other, context: {cluster: dead, user: u}}]
current-context: dead
`,
  );
  return path;
}

test("usage errors exit 2 with one line: an unknown flag, a bad -o, a bad --wait, --pre with --proxy, -n without --proxy", async () => {
  for (const [args, pattern] of [
    [["--bogus"], /unknown option '--bogus'/],
    [["-o", "xml"], /Allowed choices are table, short, json/],
    [["--wait", "soon"], /expected a duration/],
    [["--pre", "--proxy"], /--pre and --proxy cannot be combined/],
    [["-n", "apps"], /-n names the namespace of the proxies to check: it needs --proxy/],
  ] as const) {
    const run = await meshctl(["check", ...args], { KUBECONFIG: deadKubeconfig() });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.equal(run.stdout, "");
  }
});

test("an API server that cannot be reached is one line and exit 1, from KUBECONFIG, --kubeconfig or --context", async () => {
  const path = deadKubeconfig();
  const expected =
    "meshctl: cannot reach the Kubernetes API server at https://127.0.0.1:1: connection refused by https://127.0.0.1:1\n";
  for (const run of [
    await meshctl(["check"], { KUBECONFIG: path }),
    await meshctl(["check", `--kubeconfig=${path}`]),
    await meshctl(["check", "--context", "other", "-o", "json"], { KUBECONFIG: path }),
  ]) {
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr, expected);
  }
});

test("a kubeconfig that cannot be read, or a context it does not hold, is one line and exit 1", async () => {
  const missing = await meshctl(["check", "--kubeconfig=/nonexistent/kubeconfig"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^meshctl: cannot load the kubeconfig: .*no such file.*\n$/);
  const context = await meshctl(["check", "--context", "nope"], { KUBECONFIG: deadKubeconfig() });
  assert.equal(context.code, 1);
  assert.equal(context.stderr, 'meshctl: cannot load the kubeconfig: the kubeconfig has no context "nope"\n');
});
