// The bench report's arithmetic: rounds combine into medians (errors and requests summed, the largest
// loaded RSS), and the summary ratios are taken against the same run's nginx and direct paths.
import assert from "node:assert/strict";
import { test } from "node:test";
import { combineRounds, invalidity, type PathResult, render, summarize } from "./report.js";

const run = (p50Ms: number, rps: number, errors = 0) => ({
  requests: rps * 5,
  rps,
  p50Ms,
  p99Ms: p50Ms * 10,
  errors,
});

const round = (p50: number, rps: number, cpu: number, rss: number, errors = 0): PathResult => ({
  name: "trellis",
  description: "wrk → proxy → mTLS → proxy → backend",
  latency: run(p50, 4000),
  throughput: run(p50 * 4, rps, errors),
  cpuUsPerRequest: cpu,
  rssLoadedMb: rss,
});

test("rounds combine into each figure's median, with errors and requests summed and the largest RSS", () => {
  const combined = combineRounds([
    round(0.3, 9000, 70, 71),
    round(0.9, 14000, 54, 70, 2),
    round(0.25, 10000, 90, 73),
  ]);
  assert.equal(combined.latency.p50Ms, 0.3);
  assert.equal(combined.throughput.rps, 10000);
  assert.equal(combined.cpuUsPerRequest, 70);
  assert.equal(combined.rssLoadedMb, 73);
  assert.equal(combined.throughput.errors, 2);
  assert.equal(combined.throughput.requests, (9000 + 14000 + 10000) * 5);
  // An even count takes the mean of the middle two.
  assert.equal(combineRounds([round(0.2, 8000, 60, 70), round(0.4, 12000, 80, 70)]).throughput.rps, 10000);
  assert.throws(() => combineRounds([]), /no rounds/);
});

test("the summary compares Trellis with the nginx pair measured in the same run", () => {
  const path = (name: PathResult["name"], p50: number, rps: number): PathResult => ({
    ...round(p50, rps, 50, 70),
    name,
    rssIdleMb: name === "trellis" ? 59.5 : 17,
  });
  const s = summarize([path("direct", 0.1, 100000), path("nginx", 0.2, 30000), path("trellis", 0.4, 12000)]);
  assert.ok(s);
  assert.ok(Math.abs(s.p50AddedVsNginx - 3) < 1e-9);
  assert.ok(Math.abs(s.throughputVsNginx - 0.4) < 1e-9);
  assert.equal(s.rssIdleMb, 59.5);
  assert.equal(s.floor, undefined, "no floor without the opaque path");
  assert.equal(summarize([path("direct", 0.1, 1)]), undefined);
});

test("the Node floor (opaque pair) is reported against nginx, and Trellis against it", () => {
  const path = (name: PathResult["name"], rps: number): PathResult => ({ ...round(0.3, rps, 50, 70), name });
  const results = [path("direct", 100000), path("nginx", 30000), path("trellis", 12000)];
  const s = summarize([...results, path("trellis-opaque", 18000)]);
  assert.ok(s?.floor);
  assert.ok(Math.abs(s.floor.throughputVsNginx - 0.6) < 1e-9);
  assert.ok(Math.abs(s.floor.trellisVsFloor - 12000 / 18000) < 1e-9);
  const text = render([...results, path("trellis-opaque", 18000)], "header", []);
  assert.match(text, /node floor rps \/ nginx rps\s+0\.60/);
  assert.match(text, /trellis rps \/ node floor rps\s+0\.67/);
  assert.match(text.split("\n").at(-1) ?? "", /^bench: p50_added_vs_nginx=/, "the summary line stays last");
});

test("a run with any error or any request without mTLS is INVALID: no ratio, the reasons on the summary line", () => {
  const path = (name: PathResult["name"], rps: number, extra: Partial<PathResult> = {}): PathResult => ({
    ...round(0.3, rps, 50, 70),
    name,
    ...extra,
  });
  const valid = [path("direct", 100000), path("nginx", 30000), path("trellis", 12000, { plaintext: 0 })];
  assert.deepEqual(invalidity(valid), []);
  assert.match(
    render(valid, "header", []).split("\n").at(-1) ?? "",
    /^bench: p50_added_vs_nginx=\S+ throughput_vs_nginx=0\.40 /,
  );

  const failing = [
    path("direct", 100000),
    path("nginx", 30000),
    { ...path("trellis", 12000), throughput: run(1.2, 12000, 31) },
  ];
  const plaintext = [path("direct", 100000), path("nginx", 30000), path("trellis", 12000, { plaintext: 5 })];
  for (const [results, reason] of [
    [failing, "trellis: 31 errors"],
    [plaintext, "trellis: 5 without mTLS"],
  ] as const) {
    assert.deepEqual(invalidity(results), [reason]);
    const text = render(results, "header", []);
    const last = text.split("\n").at(-1) ?? "";
    assert.equal(
      last,
      `bench: INVALID (${reason}) p50_added_vs_nginx=n/a throughput_vs_nginx=n/a rss_idle_mb=n/a rss_loaded_mb=n/a`,
    );
    assert.doesNotMatch(text, /trellis rps \/ nginx rps/, "no ratio is printed");
  }
  // An error on the baseline invalidates the comparison too.
  assert.deepEqual(invalidity([{ ...path("nginx", 30000), latency: run(0.2, 4000, 1) }]), ["nginx: 1 error"]);
});
