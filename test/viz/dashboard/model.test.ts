import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cycleSort,
  HISTORY,
  initialModel,
  moveSelection,
  selectedEdges,
  sparkline,
  withSnapshot,
} from "../../../viz/dashboard/model.js";
import type { StatRow } from "../../../viz/golden.js";

const row = (name: string, rps: number, p99: number, success = 1): StatRow => ({
  namespace: "demo",
  name,
  success,
  rps,
  latencyMsP50: 1,
  latencyMsP95: 2,
  latencyMsP99: p99,
});

test("snapshots build each workload's history, capped; the selection survives re-sorting", () => {
  let m = initialModel("demo");
  for (let i = 0; i < HISTORY + 5; i++)
    m = withSnapshot(m, [row("web", i, 10), row("books", 1, 50, 0.9)], []);
  assert.equal(m.history.web?.rps.length, HISTORY);
  assert.equal(m.history.web?.rps.at(-1), HISTORY + 4);
  assert.equal(m.selected, "books", "the first row by name is selected at first");
  m = moveSelection(m, 1);
  assert.equal(m.selected, "web");
  m = moveSelection(m, 5);
  assert.equal(m.selected, "web", "stops at the end");
  m = cycleSort(m);
  assert.equal(m.sort, "rps");
  assert.deepEqual(
    m.rows.map((r) => r.name),
    ["web", "books"],
  );
  assert.equal(m.selected, "web");
  m = cycleSort(m);
  assert.deepEqual(
    m.rows.map((r) => r.name),
    ["books", "web"],
    "by success, worst first",
  );
});

test("sparklines scale to the window's maximum and pad a short history", () => {
  assert.equal(sparkline([0, 1, 2, 4, 8], 5), "▁▁▂▄█");
  assert.equal(sparkline([3], 4), "   █");
  assert.equal(sparkline([], 3), "   ");
});

test("the selected workload's edges, both ways", () => {
  let m = withSnapshot(
    initialModel("demo"),
    [row("web", 1, 1)],
    [
      {
        src: "traffic",
        dst: "web",
        srcNamespace: "demo",
        dstNamespace: "demo",
        clientId: undefined,
        serverId: undefined,
        secured: true,
      },
      {
        src: "web",
        dst: "books",
        srcNamespace: "demo",
        dstNamespace: "demo",
        clientId: undefined,
        serverId: undefined,
        secured: true,
      },
      {
        src: "books",
        dst: "authors",
        srcNamespace: "demo",
        dstNamespace: "demo",
        clientId: undefined,
        serverId: undefined,
        secured: true,
      },
    ],
  );
  m = { ...m, selected: "web" };
  assert.deepEqual(
    selectedEdges(m).map((e) => `${e.src}>${e.dst}`),
    ["traffic>web", "web>books"],
  );
});
