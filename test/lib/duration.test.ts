// Go-style durations for --issuance-lifetime and --clock-skew-allowance.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, parseDuration } from "../../lib/duration.js";

test("Go durations parse to milliseconds", () => {
  const cases: [string, number][] = [
    ["24h", 86_400_000],
    ["90s", 90_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["500ms", 500],
    ["2m3s", 123_000],
    ["1500us", 1.5],
    ["0", 0],
    ["0s", 0],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test("anything else is not a duration", () => {
  for (const text of [
    "",
    "24",
    "h",
    "1d",
    "-1h",
    "+1h",
    "1h ",
    " 1h",
    "1 h",
    "1h30",
    "1.2.3s",
    "forever",
    "1e3s",
    "NaNs",
  ])
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
});

test("formatDuration prints the Go form", () => {
  assert.equal(formatDuration(5_400_000), "1h30m0s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(0), "0s");
});
