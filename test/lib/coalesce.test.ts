import assert from "node:assert/strict";
import { test } from "node:test";
import { coalesced } from "../../lib/coalesce.js";

/** A coalesced task whose runs each wait for release(); counts its runs. */
function gatedTask(stopped: () => boolean = () => false) {
  let runs = 0;
  let release: () => void = () => {};
  const run = coalesced(async () => {
    runs++;
    await new Promise<void>((resolve) => {
      release = resolve;
    });
  }, stopped);
  return { run, runs: () => runs, release: () => release() };
}

test("calls during a run coalesce into one more run, and every caller waits for the run covering it", async () => {
  const task = gatedTask();
  const first = task.run();
  const during = [task.run(), task.run(), task.run()];
  assert.equal(task.runs(), 1, "no second run while the first is under way");
  task.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(task.runs(), 2, "one more run for all the calls made during the first");
  let settled = false;
  void Promise.all(during).then(() => {
    settled = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, "callers during the first run wait for the second");
  task.release();
  await Promise.all([first, ...during]);
  assert.equal(task.runs(), 2);
});

test("a run that throws rejects its callers and leaves the task ready for the next call", async () => {
  let fail = true;
  let runs = 0;
  const run = coalesced(
    async () => {
      runs++;
      if (fail) throw new Error("unreadable");
    },
    () => false,
  );
  await assert.rejects(run(), /unreadable/);
  fail = false;
  await run();
  assert.equal(runs, 2, "the next call runs the task again");
});

test("once stopped, a run asked for during the last one is not made", async () => {
  let stopped = false;
  const task = gatedTask(() => stopped);
  const first = task.run();
  void task.run();
  stopped = true;
  task.release();
  await first;
  assert.equal(task.runs(), 1);
});
