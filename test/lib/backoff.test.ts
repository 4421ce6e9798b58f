// The one backoff: decorrelated jitter between a base and a cap, as a function and as a loop's state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, nextBackoffMs } from "../../lib/backoff.js";

test("backoff stays within [base, cap] and grows with decorrelated jitter", () => {
  assert.equal(
    nextBackoffMs(undefined, 100, 10_000, () => 0),
    100,
  );
  assert.equal(
    nextBackoffMs(undefined, 100, 10_000, () => 0.999_999),
    299,
  );
  assert.equal(
    nextBackoffMs(1000, 100, 10_000, () => 0.999_999),
    2999,
  );
  assert.equal(
    nextBackoffMs(8000, 100, 10_000, () => 0.999_999),
    10_000,
  );
  let delay: number | undefined;
  for (let i = 0; i < 1000; i++) {
    delay = nextBackoffMs(delay, 100, 5000);
    assert.ok(delay >= 100 && delay <= 5000, `delay ${delay} out of bounds`);
  }
  // The upper bound always grows with the previous delay, up to the cap.
  let top: number | undefined;
  const tops: number[] = [];
  for (let i = 0; i < 6; i++) {
    top = nextBackoffMs(top, 100, 5000, () => 0.999_999);
    tops.push(top);
  }
  assert.deepEqual(tops, [299, 896, 2687, 5000, 5000, 5000]);
});

test("with a base equal to the cap, the delay is constant", () => {
  assert.equal(nextBackoffMs(undefined, 500, 500, Math.random), 500);
  assert.equal(nextBackoffMs(500, 500, 500, Math.random), 500);
});

test("a Backoff grows on each failure and starts over after reset", () => {
  const backoff = new Backoff(100, 5000, () => 0.999_999);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [299, 896, 2687]);
  backoff.reset();
  assert.equal(backoff.next(), 299);
  const floor = new Backoff(100, 5000, () => 0);
  assert.deepEqual([floor.next(), floor.next()], [100, 100]);
});
