/**
 * Outside tools a test needs (openssl, curl, h2load, nginx, wrk). Missing tools skip the test with the
 * reason on a developer machine; under CI=true they fail it, so no tier is silently skipped.
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

export function hasTool(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** Returns true when every tool is present; otherwise skips the test (or throws under CI=true). */
export function requireTools(t: TestContext, ...names: string[]): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return true;
  const why = `needs ${missing.join(", ")} on PATH (.ci/run installs them)`;
  if (process.env.CI === "true") throw new Error(`cannot run in CI: ${why}`);
  t.skip(why);
  return false;
}
