// The direct scrape's arithmetic, checked against what Prometheus computes for the same samples.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrometheusText } from "../../viz/prometheus.js";
import { increaseBy, matches, quantile, quantileBy, sumBy } from "../../viz/series.js";

const before = parsePrometheusText(`
response_total{direction="inbound",deployment="web",classification="success"} 90
response_total{direction="inbound",deployment="web",classification="failure"} 10
response_total{direction="inbound",deployment="books",classification="success"} 500
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="10"} 50
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="100"} 90
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="+Inf"} 100
`);
const after = parsePrometheusText(`
response_total{direction="inbound",deployment="web",classification="success"} 185
response_total{direction="inbound",deployment="web",classification="failure"} 15
response_total{direction="inbound",deployment="books",classification="success"} 20
response_total{direction="outbound",deployment="web",classification="success"} 7
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="10"} 130
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="100"} 190
response_latency_ms_bucket{direction="inbound",deployment="web",status_code="200",le="+Inf"} 200
`);

test("increase by labels: per-series deltas summed; a series that went down counts from zero (a restart)", () => {
  const rows = increaseBy(before, after, "response_total", { direction: "inbound" }, ["deployment"]);
  assert.deepEqual(
    rows.map((r) => [r.labels.deployment, r.value]),
    [
      ["web", 100],
      ["books", 20],
    ],
  );
});

test("matchers: equality and anchored regular expressions, a missing label is empty", () => {
  assert.ok(matches({ dst: "books.demo.svc.cluster.local" }, { dst: { re: "books\\.demo\\..*" } }));
  assert.ok(!matches({ dst: "xbooks.demo" }, { dst: { re: "books.*" } }), "anchored at the start");
  assert.ok(matches({}, { tls: "" }));
  assert.ok(!matches({ a: "1" }, { a: "2" }));
});

test("sum by keeps only the grouping labels", () => {
  const rows = sumBy(after, "response_total", {}, ["direction"]);
  assert.deepEqual(rows, [
    { labels: { direction: "inbound" }, value: 220 },
    { labels: { direction: "outbound" }, value: 7 },
  ]);
});

test("histogram_quantile over the window's bucket increases, as Prometheus interpolates", () => {
  const buckets = increaseBy(before, after, "response_latency_ms_bucket", {}, ["deployment", "le"]);
  const [p50] = quantileBy(0.5, buckets, ["deployment"]);
  // 80 of 100 in ≤10 ms: rank 50 is at 50/80 of the first bucket.
  assert.equal(p50?.value, 6.25);
  const [p99] = quantileBy(0.99, buckets, ["deployment"]);
  // rank 99 lies in (10, 100], which holds ranks 81..100: 10 + 90 × 19/20.
  assert.equal(p99?.value, 95.5);
  assert.equal(
    quantile(0.5, new Map([[Number.POSITIVE_INFINITY, 0]])),
    undefined,
    "no observations, no quantile",
  );
});
