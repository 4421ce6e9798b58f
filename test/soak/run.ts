/**
 * `npm run soak`: the soak run (soak.ts) for SOAK_MINUTES (default 30), printing a row per sample and
 * a summary line; exits 1 when a request failed, RSS grew more than 10 % after warm-up, file
 * descriptors grew beyond a slack of 8, or p99 drifted by more than ×2 (see p99Drift). Needs `npm run build` first (the proxies run from dist/).
 */
import type { TestContext } from "node:test";
import { p99Drift, row, soak, summary, tableHeader } from "./soak.js";

/** p99 is stable when the last third's median p99 is within this factor of the first third's. */
const MAX_P99_DRIFT = 2;

const minutes = Number(process.env.SOAK_MINUTES ?? 30);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
  console.error(`SOAK_MINUTES="${process.env.SOAK_MINUTES}" must be a number of minutes between 0 and 1440`);
  process.exit(2);
}

// The run's processes and servers, ended by what started them when it is over.
const cleanups: (() => unknown)[] = [];
const context = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
let code = 1;
try {
  console.log(tableHeader);
  const result = await soak(context, { minutes, onSample: (s) => console.log(row(s)) });
  console.log(summary(result, minutes));
  const rssOk = Object.values(result.rssGrowth).every((g) => g < 0.1);
  const fdsOk = Object.values(result.fdGrowth).every((g) => g <= 8);
  // A latency figure, judged here in the long run rather than asserted in a test.
  const p99Ok = !(p99Drift(result) > MAX_P99_DRIFT);
  for (const f of result.failures) console.log(`failed: ${f}`);
  code = result.failed === 0 && rssOk && fdsOk && p99Ok ? 0 : 1;
  console.log(
    code === 0
      ? "soak: held"
      : `soak: FAILED (failed requests, RSS growth over 10 %, fd growth over 8 or p99 drift over ×${MAX_P99_DRIFT})`,
  );
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
process.exit(code);
