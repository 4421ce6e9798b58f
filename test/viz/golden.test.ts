// viz stat's plans and rows, from source answers written out by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type StatData, splitRows, statPlan, statRows } from "../../viz/golden.js";
import { renderSplit, renderStat } from "../../viz/render.js";

test("plans: a workload's own inbound traffic; --to its outbound; a Service its clients' outbound", () => {
  assert.deepEqual(statPlan({ resource: { kind: "deployment", name: "web" }, namespace: "demo" }), {
    match: { direction: "inbound", namespace: "demo", deployment: "web" },
    by: ["namespace", "deployment"],
    direction: "inbound",
    ownProxies: true,
  });
  assert.deepEqual(
    statPlan({
      resource: { kind: "deployment", name: "web" },
      namespace: "demo",
      to: { kind: "service", name: "books" },
    }),
    {
      match: { direction: "outbound", namespace: "demo", deployment: "web", dst_service: "books" },
      by: ["namespace", "deployment"],
      direction: "outbound",
      ownProxies: false,
    },
  );
  const svc = statPlan({ resource: { kind: "service" }, namespace: undefined });
  assert.deepEqual(svc, {
    match: { direction: "outbound" },
    by: ["dst_namespace", "dst_service"],
    direction: "outbound",
    ownProxies: false,
  });
  assert.ok(
    "error" in
      statPlan({
        resource: { kind: "deployment" },
        namespace: "x",
        from: { kind: "deployment" },
        to: { kind: "deployment" },
      }),
  );
});

const l = (deployment: string, more: Record<string, string> = {}) => ({
  namespace: "demo",
  deployment,
  ...more,
});
const data: StatData = {
  windowSeconds: 10,
  responses: [
    { labels: l("web", { classification: "success" }), value: 95 },
    { labels: l("web", { classification: "failure" }), value: 5 },
  ],
  p50: [{ labels: l("web"), value: 3 }],
  p95: [{ labels: l("web"), value: 40 }],
  p99: [{ labels: l("web"), value: 120 }],
  tcpOpen: [{ labels: l("web"), value: 2 }],
  readBytes: [{ labels: l("web"), value: 1000 }],
  writeBytes: [{ labels: l("web"), value: 5000 }],
  pods: [
    { labels: l("web", { pod: "web-0" }), value: 1_800_000_000 },
    { labels: l("web", { pod: "web-1" }), value: 0 },
    { labels: l("idle", { pod: "idle-0" }), value: 1_800_000_000 },
  ],
  known: [{ labels: l("web"), value: 12345 }],
};

test("rows: success and RPS from the window's responses, meshed pods, an idle workload shows dashes", () => {
  const rows = statRows(data, ["namespace", "deployment"], true);
  assert.deepEqual(rows[1], {
    namespace: "demo",
    name: "web",
    success: 0.95,
    rps: 10,
    latencyMsP50: 3,
    latencyMsP95: 40,
    latencyMsP99: 120,
    meshed: { meshed: 1, total: 2 },
    tcpOpenConnections: 2,
    readBytesPerSecond: 100,
    writeBytesPerSecond: 500,
  });
  assert.equal(
    renderStat(rows, "table", false),
    [
      "NAME   MESHED   SUCCESS   RPS       LATENCY_P50   LATENCY_P95   LATENCY_P99   TCP_CONN",
      "idle   1/1      -         0.0rps    -             -             -             0",
      "web    1/2      95.00%    10.0rps   3.0ms         40ms          120ms         2",
    ].join("\n"),
  );
  assert.match(
    renderStat(rows, "wide", true).split("\n")[0] ?? "",
    /^NAMESPACE .* READ_BYTES\/SEC {3}WRITE_BYTES\/SEC$/,
  );
});

test("a TrafficSplit: one row per backend with its share of the weights", () => {
  const rows = splitRows(
    {
      name: "books-canary",
      namespace: "demo",
      apex: "books",
      backends: [
        { service: "books-stable", weight: 900 },
        { service: "books-v2", weight: 100 },
      ],
    },
    [
      {
        namespace: "demo",
        name: "books-v2",
        success: 0.5,
        rps: 1,
        latencyMsP50: 1,
        latencyMsP95: 2,
        latencyMsP99: 3,
      },
    ],
  );
  assert.deepEqual(
    rows.map((r) => [r.name, r.weight, r.rps]),
    [
      ["books-stable", 0.9, 0],
      ["books-v2", 0.1, 1],
    ],
  );
  assert.match(renderSplit(rows, "table"), /books-canary\s+books\s+books-v2\s+10%\s+50\.00%\s+1\.0rps/);
});
