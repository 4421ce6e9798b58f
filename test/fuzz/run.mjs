#!/usr/bin/env node
// `npm run fuzz`: the fuzz targets of test/fuzz for longer than `npm test` runs them. Each property runs
// until FUZZ_TIME_MS (default 30 s) or FUZZ_RUNS cases (default 10 million), whichever comes first;
// FUZZ_SEED replays a run (each test prints its seed). Arguments pick the targets: `npm run fuzz -- mux
// h1-server` runs test/fuzz/mux.test.ts and test/fuzz/h1-server.test.ts. Integration targets run the
// built proxy: run `npm run build` first.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = join(root, "test/fuzz");
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.test\.ts$/, "")))
  .sort()
  .map((f) => join("test/fuzz", f));
if (files.length === 0) {
  process.stderr.write(`no fuzz target named ${wanted.join(", ")} in test/fuzz\n`);
  process.exit(2);
}
const env = { ...process.env };
env.FUZZ_TIME_MS ??= "30000";
env.FUZZ_RUNS ??= "10000000";
process.stdout.write(`fuzz: ${files.length} targets, FUZZ_TIME_MS=${env.FUZZ_TIME_MS} per property\n`);
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  { cwd: root, stdio: "inherit", env },
);
process.exit(r.status ?? 1);
