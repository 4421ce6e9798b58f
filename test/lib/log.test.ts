/**
 * Logging must never keep a process from exiting. A child whose parent has died has no reader on its
 * stderr: every log line then meets a broken pipe, and the process must still stop when told to.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { repoRoot, startNode } from "../support/process.js";

test("a process whose stderr reader is gone logs on and still exits", async (t) => {
  // Logs a burst, then exits the way every Trellis executable does (process.exit right after logging).
  const script = `
    const { logger } = await import(${JSON.stringify(`${repoRoot}dist/lib/log.js`)});
    const log = logger("test");
    process.once("SIGUSR2", () => {
      for (let i = 0; i < 2000; i++) log.info({ i, pad: "x".repeat(200) }, "line");
      process.exit(7);
    });
    process.stdout.write("ready\\n");
    setInterval(() => {}, 1000);
  `;
  const child = startNode(t, "--input-type=module", ["-e", script]);
  await child.waitForLine((line) => line === "ready");
  // The reader goes away, as when the parent is killed.
  child.process.stderr?.destroy();
  const exited = child.exited;
  child.process.kill("SIGUSR2");
  const timeout = new Promise((resolve) => setTimeout(resolve, 10_000, "still running after 10 s"));
  assert.equal(await Promise.race([exited, timeout]), 7);
});
