// Renewal and retry timing as pure functions of the clock and the random source.
import assert from "node:assert/strict";
import { test } from "node:test";
import { nextBackoffMs, refreshDelayMs } from "../../../proxy/identity/timing.js";

const HOUR = 3_600_000;

test("renews at 70 % of the remaining validity", () => {
  assert.equal(refreshDelayMs(24 * HOUR, 0, 10_000, 24 * HOUR), 60_480_000); // 16.8 h
  // Back-dated notBefore does not matter: only what is left counts.
  assert.equal(refreshDelayMs(1_000_000 + 3000, 1_000_000, 0, HOUR), 2100);
});

test("the renewal delay is clamped to [min, max]", () => {
  assert.equal(refreshDelayMs(1000, 0, 10_000, HOUR), 10_000);
  assert.equal(refreshDelayMs(365 * 24 * HOUR, 0, 0, HOUR), HOUR);
  // An already expired certificate renews after the minimum, never with a negative delay.
  assert.equal(refreshDelayMs(0, 5000, 100, HOUR), 100);
  assert.equal(refreshDelayMs(0, 5000, 0, HOUR), 0);
});

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
