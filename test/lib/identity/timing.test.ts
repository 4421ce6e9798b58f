// Renewal timing as a pure function of the clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refreshDelayMs } from "../../../lib/identity/timing.js";

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
