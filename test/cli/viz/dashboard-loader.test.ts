// The dashboard is loaded so that ink draws interactively on a terminal even when CI variables are
// set (ink reads them once, as it loads), and the variables are put back for everything else.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../../support/process.js";

test("loadDashboard on a terminal loads ink as interactive although CI=true, and puts CI back", async () => {
  // A process of its own: ink (and is-in-ci) must not be loaded yet when the dashboard is.
  const script = `
    process.env.CI = "true";
    const { loadDashboard } = await import("./cli/viz/dashboard-loader.ts");
    await loadDashboard({ isTTY: true });
    const { default: isInCi } = await import("is-in-ci");
    process.stdout.write(JSON.stringify({ isInCi, ci: process.env.CI }));`;
  const run = (tty: boolean) =>
    promisify(execFile)(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        tty ? script : script.replace("isTTY: true", "isTTY: false"),
      ],
      { cwd: repoRoot, timeout: 60_000 },
    );
  assert.deepEqual(JSON.parse((await run(true)).stdout), { isInCi: false, ci: "true" });
  assert.deepEqual(JSON.parse((await run(false)).stdout), { isInCi: true, ci: "true" }, "not on a pipe");
});
