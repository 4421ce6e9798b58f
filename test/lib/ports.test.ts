// Port lists as the opaque-ports annotation and TRELLIS_PROXY_OPAQUE_PORTS spell them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePortList, portsOf } from "../../lib/ports.js";

test("ports and inclusive ranges, spaces and empty items ignored, written back as given", () => {
  const parsed = parsePortList(" 25, 8000-8002,,65535 ");
  assert.ok("ports" in parsed);
  const { ports } = parsed;
  assert.deepEqual(
    [24, 25, 7999, 8000, 8002, 8003, 65535].map((p) => ports.has(p)),
    [false, true, false, true, true, false, true],
  );
  assert.equal(ports.text, "25,8000-8002,65535");
  assert.equal(portsOf([3306, 5432]).text, "3306,5432");
  const empty = parsePortList("");
  assert.ok("ports" in empty && !empty.ports.has(1) && empty.ports.text === "");
});

test("every bad item is named: zero, out of range, reversed ranges, words, signs", () => {
  assert.deepEqual(parsePortList("0,80,65536,9-3,http,-5,1-2-3,+7,1.5"), {
    bad: ["0", "65536", "9-3", "http", "-5", "1-2-3", "+7", "1.5"],
  });
});
