/**
 * Golden files: output pinned in test/golden/. A mismatch fails naming the first line that differs and
 * how to accept the change; with UPDATE_GOLDEN=1 the file is rewritten instead (review the diff).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot } from "./process.js";

export const GOLDEN_DIR = join(repoRoot, "test/golden");

/** Compares `actual` with test/golden/<name>, or writes it there when UPDATE_GOLDEN=1. */
export function assertGolden(name: string, actual: string, testFile: string): void {
  const path = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  const hint = `to accept the new output: UPDATE_GOLDEN=1 node --import tsx --test ${testFile}, then review git diff test/golden`;
  assert.ok(existsSync(path), `test/golden/${name} does not exist; ${hint}`);
  const expected = readFileSync(path, "utf8");
  if (expected === actual) return;
  const a = actual.split("\n");
  const e = expected.split("\n");
  const line = a.findIndex((l, i) => l !== e[i]);
  const at = line < 0 ? Math.min(a.length, e.length) : line;
  assert.fail(
    `the output differs from test/golden/${name} at line ${at + 1}:\n  golden: ${JSON.stringify(e[at])}\n  actual: ${JSON.stringify(a[at])}\n${hint}`,
  );
}
