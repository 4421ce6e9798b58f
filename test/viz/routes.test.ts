import assert from "node:assert/strict";
import { test } from "node:test";
import { renderRoutes } from "../../viz/render.js";
import { routeRows } from "../../viz/routes.js";

const dst = "books.demo.svc.cluster.local";

test("routes: one row per ServiceProfile route, [DEFAULT] the service's responses no route counted", () => {
  const rows = routeRows({
    windowSeconds: 10,
    routed: [
      { labels: { dst, rt_route: "GET /books/{id}", classification: "success" }, value: 45 },
      { labels: { dst, rt_route: "GET /books/{id}", classification: "failure" }, value: 5 },
    ],
    p50: [{ labels: { dst, rt_route: "GET /books/{id}" }, value: 4 }],
    p95: [{ labels: { dst, rt_route: "GET /books/{id}" }, value: 9 }],
    p99: [{ labels: { dst, rt_route: "GET /books/{id}" }, value: 10 }],
    all: [
      { labels: { authority: `${dst}:8080`, classification: "success" }, value: 145 },
      { labels: { authority: `${dst}:8080`, classification: "failure" }, value: 5 },
      { labels: { authority: "authors.demo.svc.cluster.local:8080", classification: "success" }, value: 20 },
    ],
    allP50: [{ labels: { authority: "authors.demo.svc.cluster.local:8080" }, value: 2 }],
    allP95: [],
    allP99: [],
  });
  assert.equal(
    renderRoutes(rows, "table"),
    [
      "ROUTE             SERVICE   SUCCESS   RPS       LATENCY_P50   LATENCY_P95   LATENCY_P99",
      "[DEFAULT]         authors   100.00%   2.0rps    2.0ms         -             -",
      "GET /books/{id}   books     90.00%    5.0rps    4.0ms         9.0ms         10ms",
      "[DEFAULT]         books     100.00%   10.0rps   -             -             -",
    ].join("\n"),
  );
});
