// The dashboard's ink view rendered with ink-testing-library: the demo's workloads, the split, the
// selected one's edges and routes with retries, the help line with the sort keys, within 80×24 (every
// line at most 80 columns, at most 24 lines) however much there is to show, and more on a wider one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { render } from "ink-testing-library";
import { cycleSort, type DashboardModel, initialModel, withSnapshot } from "../../../viz/dashboard/model.js";
import { clip, fit, lineText, screen } from "../../../viz/dashboard/screen.js";
import { Dashboard } from "../../../viz/dashboard/view.js";
import { DEMO_WORKLOADS, demoSnapshot, edge, row } from "./fixtures.js";

/** The frame ink draws for the model in a terminal of `columns` × `rows` (one row stays for ink's last newline). */
function frame(model: DashboardModel, columns = 80, rows = 24, note?: string): string {
  const { lastFrame, unmount } = render(
    <Dashboard model={model} width={columns} height={rows - 1} note={note} />,
  );
  const text = lastFrame() ?? "";
  unmount();
  return text;
}

function assertFits(text: string, columns: number, rows: number): void {
  const lines = text.split("\n");
  assert.ok(lines.length <= rows, `${lines.length} lines:\n${text}`);
  for (const line of lines) assert.ok(Array.from(line).length <= columns, `over ${columns} columns: ${line}`);
}

const demo = (refreshes = 5) => {
  let m = initialModel("demo");
  for (let i = 1; i <= refreshes; i++) m = withSnapshot(m, demoSnapshot(i));
  return m;
};

const STORE = "store /tmp/trellis-demo-AbC123/mesh: edit books-canary.yaml to move the canary";

test("80×24: the demo's workloads with sparklines, the split's shares, edges, routes with retries, the keys", () => {
  const text = frame(demo(), 80, 24, STORE);
  assertFits(text, 80, 24);
  assert.match(text, /^Trellis · namespace demo \(1\/2\) · sorted by name$/m);
  for (const n of DEMO_WORKLOADS) assert.match(text, new RegExp(`^. ${n}\\s`, "m"));
  assert.doesNotMatch(text, /\bcart\b/, "only the namespace shown");
  assert.match(text, /^› authors\s+93\.00%\s+100\.0rps\s+3\.0ms\s+20ms\s+▂▃▅▆█/m);
  assert.match(text, /^ {2}books-v2\s+10%\s+10\.0%\s+90\.00%\s+5\.0rps$/m, "the canary's weight and share");
  assert.match(text, /^Edges of authors$/m);
  assert.match(text, /^ {2}web → authors\s+√ mTLS$/m);
  assert.match(text, /^Routes of authors\s+SUCCESS\s+RPS\s+RETRIES\s+P99$/m);
  assert.match(text, /^ {2}GET \/authors\s+100\.00%\s+5\.0rps\s+1\.2\/s\s+4\.0ms$/m);
  assert.match(text, /^ {2}\[DEFAULT\]\s+95\.00%\s+10\.0rps\s+-\s+4\.0ms$/m);
  assert.match(text, /^store \/tmp\/trellis-demo-AbC123\/mesh: edit books-canary\.yaml/m);
  assert.match(text, /^↑↓ select · n namespace · s sort: name rps success p99 · q quit$/m);
});

test("80×24 with forty workloads, long names and reasons: rows scroll around the selection, text ends in …", () => {
  const many = Array.from({ length: 40 }, (_, i) => row(`workload-${String(i).padStart(2, "0")}`, i, 1));
  const long = "a-workload-whose-name-is-far-longer-than-any-column";
  let m = withSnapshot(initialModel("demo"), {
    ...demoSnapshot(),
    rows: [...many, row(long, 1, 0.5)],
    edges: [
      edge(long, "workload-01", "no identity: the destination is not meshed, and this reason goes on and on"),
      ...many.map((w) => edge(w.name, long)),
    ],
    routes: Array.from({ length: 12 }, (_, i) => ({
      route: `GET /a/very/long/route/name/that/cannot/fit/${i}`,
      service: long,
      success: 1,
      rps: 1,
      latencyMsP50: 1,
      latencyMsP95: 1,
      latencyMsP99: 1,
      retriesPerSecond: undefined,
    })),
  });
  m = { ...m, selected: long };
  const text = frame(m, 80, 24);
  assertFits(text, 80, 24);
  assert.match(text, /^› a-workload-who…/m, "the selection is in view, its name cut");
  assert.match(text, /Edges of a-workload-whose-name-is-far-longer-than-any-column \(\+\d+ more\)/);
  assert.match(text, /^ {2}a-workload-whose-name-is-far-longer-… × no identity: the destination is not m…$/m);
  assert.match(text, /^Routes of a-workload-whose-… \(\+\d+ more\) SUCCESS/m);
  assert.match(text, /q quit$/, "the help line stays");
});

test("every terminal size: never wider or taller than the terminal; wider ones get longer sparklines and identities", () => {
  const m = demo(40);
  for (const [columns, rows] of [
    [80, 24],
    [60, 15],
    [40, 10],
    [100, 30],
    [200, 60],
  ] as const) {
    const lines = screen(cycleSort(m), { width: columns, height: rows - 1, note: STORE });
    assert.ok(lines.length <= rows - 1, `${columns}×${rows}: ${lines.length} lines`);
    for (const l of lines) assert.ok(Array.from(lineText(l)).length <= columns, `${columns}: ${lineText(l)}`);
  }
  const narrow = frame(m, 80, 24);
  const wide = frame(m, 200, 60);
  const spark = (text: string) => /^› authors.*?([▁▂▃▄▅▆▇█]+)/m.exec(text)?.[1]?.length ?? 0;
  assert.equal(spark(narrow), 16, "16 refreshes at 80 columns");
  assert.equal(spark(wide), 40, "the whole history when there is room");
  assert.doesNotMatch(narrow, /spiffe:\/\//);
  assert.match(wide, /web → authors\s+√ mTLS spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web$/m);
});

test("before the first refresh it says it is waiting; a failed refresh shows its error in red, cut to the width", () => {
  assert.match(frame(initialModel("demo")), /waiting for the first window…/);
  const failed = { ...demo(), error: `no proxy answered on its admin port (${"x".repeat(200)})` };
  const text = frame(failed);
  assertFits(text, 80, 24);
  assert.match(text, /^refresh failed: no proxy answered on its admin port \(x+…$/m);
});

test("fit pads or cuts to the exact width; clip cuts a line of segments with …", () => {
  assert.equal(fit("abc", 5), "abc  ");
  assert.equal(fit("abcdef", 4), "abc…");
  assert.equal(fit("→√", 3), "→√ ");
  assert.equal(lineText(clip([{ text: "abc" }, { text: "def" }], 6)), "abcdef");
  assert.equal(lineText(clip([{ text: "abc" }, { text: "def" }], 5)), "abcd…");
  assert.equal(lineText(clip([{ text: "abc" }, { text: "def" }], 3)), "ab…");
});
