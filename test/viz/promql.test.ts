// The PromQL the Prometheus source sends: Linkerd's shapes, with the window and matchers written in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { currentQuery, increaseQuery, parseDuration, quantileQuery, selector } from "../../viz/promql.js";

test("queries are Linkerd's: increase of response_total by classification, histogram_quantile by le", () => {
  assert.equal(
    increaseQuery(
      "response_total",
      { direction: "inbound", deployment: "web" },
      ["namespace", "deployment", "classification"],
      60,
    ),
    'sum(increase(response_total{direction="inbound",deployment="web"}[60s])) by (namespace, deployment, classification)',
  );
  assert.equal(
    quantileQuery(0.99, "response_latency_ms", { dst: { re: "books\\..*" } }, ["dst"], 30),
    'histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{dst=~"books\\\\..*"}[30s])) by (le, dst))',
  );
  assert.equal(currentQuery("tcp_open_connections", {}, ["pod"]), "sum(tcp_open_connections) by (pod)");
  assert.equal(selector({ a: 'say "hi"' }), '{a="say \\"hi\\""}');
});

test("durations as -t and Prometheus write them", () => {
  assert.equal(parseDuration("1m"), 60);
  assert.equal(parseDuration("1m30s"), 90);
  assert.equal(parseDuration("500ms"), 0.5);
  assert.equal(parseDuration("soon"), undefined);
  assert.equal(parseDuration("10"), undefined, "a unit is required");
});
