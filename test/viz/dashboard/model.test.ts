// The dashboard's state as pure functions: history per workload, namespaces from the data, sort and
// selection, what each key does, and each route's retries.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyKey,
  cycleNamespace,
  cycleSort,
  HISTORY,
  initialModel,
  isQuitKey,
  keysOf,
  moveSelection,
  namespaceSplits,
  selectedEdges,
  selectedRoutes,
  sparkline,
  visibleRows,
  withError,
  withSnapshot,
} from "../../../viz/dashboard/model.js";
import { withRetries } from "../../../viz/dashboard/snapshot.js";
import { DEMO_WORKLOADS, demoSnapshot, route } from "./fixtures.js";

const names = (m: ReturnType<typeof initialModel>) => visibleRows(m).map((r) => r.name);

test("snapshots build each workload's history, capped; the selection survives re-sorting", () => {
  let m = initialModel("demo");
  for (let i = 0; i < HISTORY + 5; i++) m = withSnapshot(m, { ...demoSnapshot(i + 1), splits: [] });
  assert.equal(m.refreshes, HISTORY + 5);
  assert.equal(m.history["demo/web"]?.rps.length, HISTORY);
  assert.equal(m.history["demo/web"]?.rps.at(-1), 10 * (HISTORY + 5));
  assert.equal(m.history["shop/cart"]?.rps.length, HISTORY, "every namespace's history grows");
  assert.equal(m.selected, "authors", "the first row by name is selected at first");
  m = moveSelection(m, 1);
  assert.equal(m.selected, "books");
  m = moveSelection(m, 9);
  assert.equal(m.selected, "web", "stops at the end");
  m = cycleSort(m);
  assert.equal(m.sort, "rps");
  assert.deepEqual(names(m), ["authors", "web", "books", "books-v2", "traffic"]);
  assert.equal(m.selected, "web", "the selection follows its workload, not its place");
  m = cycleSort(m);
  assert.deepEqual(names(m), ["books-v2", "authors", "web", "books", "traffic"], "by success, worst first");
  m = cycleSort(cycleSort(m));
  assert.equal(m.sort, "name", "the sort keys cycle");
});

test("namespaces come from the data; n cycles through them and moves the selection to the new one's rows", () => {
  let m = initialModel("demo");
  assert.deepEqual(m.namespaces, ["demo"], "-n's namespace is listed before any data");
  m = withSnapshot(m, demoSnapshot());
  assert.deepEqual(m.namespaces, ["demo", "shop"]);
  assert.deepEqual(names(m), DEMO_WORKLOADS);
  m = moveSelection(m, 2);
  m = cycleNamespace(m);
  assert.equal(m.namespace, "shop");
  assert.deepEqual(names(m), ["cart", "checkout"]);
  assert.equal(m.selected, "cart");
  assert.deepEqual(
    selectedEdges(m).map((e) => `${e.src}>${e.dst}`),
    ["cart>checkout"],
  );
  assert.deepEqual(selectedRoutes(m), [], "routes were read for demo, not shop: none until the next refresh");
  assert.deepEqual(namespaceSplits(m), []);
  m = cycleNamespace(m);
  assert.equal(m.namespace, "demo", "wraps around");
  assert.equal(m.selected, "authors");

  // -A: no namespace until the data names one; then the first.
  const all = withSnapshot(initialModel(undefined), demoSnapshot());
  assert.equal(all.namespace, "demo");
  // A namespace asked for that has no workloads stays listed, so n can come back to it.
  const empty = withSnapshot(initialModel("zoo"), demoSnapshot());
  assert.deepEqual(empty.namespaces, ["demo", "shop", "zoo"]);
  assert.deepEqual(names(empty), []);
  assert.equal(empty.selected, undefined);
});

test("keys: q and Ctrl-C quit; s, n, arrows and j/k change the model; others do nothing", () => {
  assert.ok(isQuitKey({ input: "q" }));
  assert.ok(isQuitKey({ input: "c", ctrl: true }));
  assert.ok(!isQuitKey({ input: "c" }));
  const m = withSnapshot(initialModel("demo"), demoSnapshot());
  assert.equal(applyKey(m, { input: "s" }).sort, "rps");
  assert.equal(applyKey(m, { input: "n" }).namespace, "shop");
  assert.equal(applyKey(m, { input: "", downArrow: true }).selected, "books");
  assert.equal(applyKey(m, { input: "j" }).selected, "books");
  assert.equal(applyKey(applyKey(m, { input: "j" }), { input: "k" }).selected, "authors");
  assert.equal(applyKey(m, { input: "x" }), m);
  // Keys typed faster than the terminal is read come as one string.
  assert.deepEqual(keysOf({ input: "nq" }), [{ input: "n" }, { input: "q" }]);
  assert.deepEqual(keysOf({ input: "", upArrow: true }), [{ input: "", upArrow: true }]);
  assert.deepEqual(keysOf({ input: "c", ctrl: true }), [{ input: "c", ctrl: true }]);
});

test("the selected workload's edges both ways, its routes, the namespace's splits; an error stays until a refresh", () => {
  let m = withSnapshot(initialModel("demo"), demoSnapshot());
  m = { ...m, selected: "web" };
  assert.deepEqual(
    selectedEdges(m).map((e) => `${e.src}>${e.dst}`),
    ["traffic>web", "web>books", "web>books-v2", "web>authors"],
  );
  assert.deepEqual(selectedRoutes(m), []);
  m = { ...m, selected: "authors" };
  assert.deepEqual(
    selectedRoutes(m).map((r) => r.route),
    ["GET /authors", "GET /books/{id}", "[DEFAULT]"],
  );
  assert.deepEqual(
    namespaceSplits(m).map((s) => [s.name, s.backends.map((b) => b.name)]),
    [["books-canary", ["books-stable", "books-v2"]]],
  );
  m = withError(m, "no proxy answered");
  assert.equal(m.error, "no proxy answered");
  assert.equal(withSnapshot(m, demoSnapshot()).error, undefined);
});

test("a route's retries are its clients' route_retry_total for its service and route, per second", () => {
  const retries = [
    { labels: { dst: "authors.demo.svc.cluster.local", rt_route: "GET /authors" }, value: 6 },
    { labels: { dst: "authors.demo.svc.cluster.local", rt_route: "GET /authors" }, value: 3 },
    { labels: { dst: "authorsx.demo.svc.cluster.local", rt_route: "GET /authors" }, value: 100 },
  ];
  const rows = withRetries(
    [route("authors", "GET /authors", 5, 1), route("authors", "[DEFAULT]", 5, 1)],
    retries,
    3,
  );
  assert.deepEqual(
    rows.map((r) => [r.route, r.retriesPerSecond]),
    [
      ["GET /authors", 3],
      ["[DEFAULT]", undefined],
    ],
  );
});

test("sparklines scale to the window's maximum and pad a short history", () => {
  assert.equal(sparkline([0, 1, 2, 4, 8], 5), "▁▁▂▄█");
  assert.equal(sparkline([3], 4), "   █");
  assert.equal(sparkline([], 3), "   ");
  assert.equal(sparkline([1, 2, 3, 4, 8], 2), "▄█", "only the last points fit");
  assert.equal(sparkline([1], 0), "");
});
