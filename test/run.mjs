#!/usr/bin/env node
// `npm test`: typecheck, lint, the structure check (import rules, file sizes), build, then every test tier
// this machine can run.
// A tier that cannot run says why; with CI=true that is a failure, never a silent skip.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const ci = process.env.CI === "true";
const failures = [];

function step(name, cmd, args, env = {}) {
  process.stdout.write(`\n== ${name}: ${[cmd, ...args].join(" ")}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) failures.push(`${name} (exit ${r.status ?? r.signal})`);
  return r.status === 0;
}

function findTests(dir, skip) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.some((s) => path === join(root, s))) continue;
    if (statSync(path).isDirectory()) out.push(...findTests(path, skip));
    else if (/\.test\.tsx?$/.test(name)) out.push(relative(root, path));
  }
  return out.sort();
}

const tsc = join(root, "node_modules/.bin/tsc");
const biome = join(root, "node_modules/.bin/biome");
const tsx = join(root, "node_modules/.bin/tsx");
step("typecheck", tsc, ["-p", "tsconfig.json", "--noEmit"]);
step("lint", biome, ["check", "."]);
step("structure", tsx, ["test/structure/check.ts"]);
const built = step("build", "npm", ["run", "--silent", "build"]);

// The cluster tier needs a real control plane and the soak a whole run of minutes: each runs on its own
// (test/cluster, test/soak). node:test applies --test-timeout to each file as a whole, not only to
// each test in it.
const files = findTests(join(root, "test"), ["test/cluster", "test/soak"]);
if (files.length === 0) failures.push("no test files found under test/");
else if (built) {
  step(`tests (${files.length} files)`, process.execPath, [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    "--test-concurrency=2",
    "--test-timeout=300000",
    ...files,
  ]);
  // The CI version of the soak run (3 minutes unless SOAK_MINUTES says otherwise), plus its start and drain.
  const soakMinutes = Number(process.env.SOAK_MINUTES ?? 3);
  step(`soak (${soakMinutes} min)`, process.execPath, [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    `--test-timeout=${(soakMinutes * 60 + 240) * 1000}`,
    ...findTests(join(root, "test/soak"), []),
  ]);
}

// The cluster tier (test/cluster/README.md): a real etcd + kube-apiserver + kube-controller-manager built
// from the Go module proxy, pods as network namespaces. It needs Go, root and `ip netns`.
function clusterTierBlocker() {
  // The Go toolchain's usual home, which a non-login shell (CI's) may not have on PATH.
  if (spawnSync("go", ["version"], { stdio: "ignore" }).status !== 0 && existsSync("/usr/local/go/bin/go")) {
    process.env.PATH = `/usr/local/go/bin:${process.env.PATH}`;
  }
  if (spawnSync("go", ["version"], { stdio: "ignore" }).status !== 0)
    return "Go is not installed (go version failed)";
  if (process.getuid?.() !== 0) return "it needs root (network namespaces, veths, a bridge)";
  if (spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status !== 0) return "`ip netns` does not work";
  return undefined;
}
const clusterTests = findTests(join(root, "test/cluster"), []);
const blocker = clusterTests.length === 0 ? "no test files in test/cluster" : clusterTierBlocker();
if (blocker) {
  process.stdout.write(`\n== cluster tier: cannot run: ${blocker}\n`);
  if (ci) failures.push(`cluster tier (${blocker})`);
} else if (!built) {
  process.stdout.write("\n== cluster tier: skipped, the build failed (the Trellis image runs dist/)\n");
} else if (step("cluster tier: build binaries (skipped when built)", tsx, ["test/cluster/build.ts"])) {
  step(`cluster tier (${clusterTests.length} files)`, process.execPath, [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    "--test-concurrency=1",
    "--test-timeout=600000",
    ...clusterTests,
  ]);
}

if (failures.length > 0) {
  process.stdout.write(`\nnpm test failed: ${failures.join(", ")}\n`);
  process.exit(1);
}
process.stdout.write(`\nnpm test passed${ci ? " (CI)" : ""}\n`);
