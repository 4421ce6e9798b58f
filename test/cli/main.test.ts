// meshctl as the start of a pipeline: a reader that stops early ends it quietly.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { bin } from "../support/process.js";

test("a reader that closes the pipe early ends meshctl quietly, with no stack trace", async () => {
  // Regression: `meshctl install --crds | head -1` died of an unhandled EPIPE.
  const child = spawn(process.execPath, [bin("meshctl"), "install", "--crds"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c: string) => {
    stderr += c;
  });
  // Take the first chunk, then close our end as `head` does.
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  assert.equal(stderr, "");
  assert.equal(code, 0);
});
