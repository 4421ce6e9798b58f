// The runner's logic against plain checks and a fake clock: order, fatal failures stopping their
// category or the run, warnings that never fail the run, skips left out, thrown errors reported as the
// check's error, and retries under a deadline.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runChecks } from "../../../cli/check/runner.js";
import type { Category, Check, CheckContext, Finding } from "../../../cli/check/types.js";

const ctx = {} as CheckContext;

function check(description: string, finding: Finding | (() => Finding), extra: Partial<Check> = {}): Check {
  return {
    description,
    hint: `hint for ${description}`,
    run: async () => (typeof finding === "function" ? finding() : finding),
    ...extra,
  };
}

function fakeClock(start = 0) {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    },
  };
}

test("every check runs in order and a run without errors succeeds, warnings allowed", async () => {
  const seen: string[] = [];
  const categories: Category[] = [
    { name: "a", checks: [check("a1", undefined), check("a2", { warning: "soon" })] },
    { name: "b", checks: [check("b1", undefined)] },
  ];
  const report = await runChecks(categories, ctx, { onCheck: (c, k) => seen.push(`${c}/${k.description}`) });
  assert.equal(report.success, true);
  assert.deepEqual(seen, ["a/a1", "a/a2", "b/b1"]);
  assert.deepEqual(report.categories[0]?.checks[1], {
    description: "a2",
    result: "warning",
    error: "soon",
    hint: "hint for a2",
  });
});

test("a fatal failure stops the rest of its category; the next category still runs", async () => {
  const report = await runChecks(
    [
      { name: "a", checks: [check("a1", { error: "gone" }, { fatal: "category" }), check("a2", undefined)] },
      { name: "b", checks: [check("b1", undefined)] },
    ],
    ctx,
  );
  assert.equal(report.success, false);
  assert.deepEqual(
    report.categories.map((c) => [c.categoryName, c.checks.map((k) => `${k.result} ${k.description}`)]),
    [
      ["a", ["error a1"]],
      ["b", ["success b1"]],
    ],
  );
});

test("a failure fatal to the run stops every later category; a non-fatal one stops nothing", async () => {
  const report = await runChecks(
    [
      { name: "a", checks: [check("a1", { error: "x" }), check("a2", { error: "down" }, { fatal: "run" })] },
      { name: "b", checks: [check("b1", undefined)] },
    ],
    ctx,
  );
  assert.deepEqual(
    report.categories.map((c) => c.categoryName),
    ["a"],
  );
  assert.equal(report.categories[0]?.checks.length, 2);
});

test("a skipped check is not reported, and a category of skips not at all", async () => {
  const report = await runChecks(
    [
      { name: "a", checks: [check("a1", { skip: "n/a" }), check("a2", undefined)] },
      { name: "b", checks: [check("b1", { skip: "n/a" })] },
    ],
    ctx,
  );
  assert.deepEqual(report.categories, [
    { categoryName: "a", checks: [{ description: "a2", result: "success" }] },
  ]);
});

test("a check that throws is an error with the thrown message", async () => {
  const report = await runChecks(
    [
      {
        name: "a",
        checks: [
          check("a1", () => {
            throw new Error("GET /x: HTTP 403: forbidden");
          }),
        ],
      },
    ],
    ctx,
  );
  assert.equal(report.categories[0]?.checks[0]?.error, "GET /x: HTTP 403: forbidden");
  assert.equal(report.success, false);
});

test("a retryable check is retried every interval until it passes, within the deadline", async () => {
  const { clock, sleeps } = fakeClock();
  let calls = 0;
  const flaky = check("pods ready", () => (++calls < 3 ? { error: "starting" } : undefined), {
    retryable: true,
  });
  const retried: string[] = [];
  const report = await runChecks([{ name: "a", checks: [flaky] }], ctx, {
    clock,
    deadline: 60_000,
    retryIntervalMs: 5_000,
    onRetry: (_c, k) => retried.push(k.error ?? ""),
  });
  assert.equal(report.success, true);
  assert.equal(calls, 3);
  assert.deepEqual(sleeps, [5_000, 5_000]);
  assert.deepEqual(retried, ["starting", "starting"]);
});

test("retries end at the deadline with the last failure; without a deadline or retryable, a check runs once", async () => {
  const { clock, sleeps } = fakeClock();
  let calls = 0;
  const never = check("never", () => ({ error: `try ${++calls}` }), { retryable: true });
  const report = await runChecks([{ name: "a", checks: [never] }], ctx, {
    clock,
    deadline: 12_000,
    retryIntervalMs: 5_000,
  });
  assert.equal(calls, 3, "at 0, 5 and 10 s; a retry at 15 s would pass the deadline");
  assert.deepEqual(sleeps, [5_000, 5_000]);
  assert.equal(report.categories[0]?.checks[0]?.error, "try 3");

  let once = 0;
  await runChecks(
    [{ name: "a", checks: [check("x", () => ({ error: `${++once}` }), { retryable: true })] }],
    ctx,
    {
      clock,
    },
  );
  let notRetryable = 0;
  await runChecks([{ name: "a", checks: [check("y", () => ({ error: `${++notRetryable}` }))] }], ctx, {
    clock,
    deadline: 1e12,
  });
  assert.deepEqual([once, notRetryable], [1, 1]);
});

test("warnings are not retried", async () => {
  let calls = 0;
  const { clock } = fakeClock();
  await runChecks(
    [{ name: "a", checks: [check("w", () => ({ warning: `${++calls}` }), { retryable: true })] }],
    ctx,
    { clock, deadline: 1e9 },
  );
  assert.equal(calls, 1);
});

test("<namespace> in a hint becomes the control plane's namespace", async () => {
  const report = await runChecks(
    [{ name: "a", checks: [check("a1", { error: "x" }, { hint: "kubectl -n <namespace> get pods" })] }],
    {
      namespace: "mesh",
    } as CheckContext,
  );
  assert.equal(report.categories[0]?.checks[0]?.hint, "kubectl -n mesh get pods");
});
