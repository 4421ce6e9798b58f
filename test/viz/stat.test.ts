// Golden metrics from two scrapes of a proxy: the rows `viz stat` and the demo print.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrometheusText } from "../../viz/prometheus.js";
import { quantile, renderStatTable, statRow } from "../../viz/stat.js";

const scrape = (text: string, at: number) => ({ name: "web", samples: parsePrometheusText(text), at });

const before = `
# HELP request_total Total count of HTTP requests.
request_total{direction="inbound",tls="true",client_id="spiffe://x/ns/a/sa/b"} 100
request_total{direction="outbound",authority="books:80"} 999
response_total{direction="inbound",status_code="200",classification="success"} 90
response_total{direction="inbound",status_code="500",classification="failure"} 10
response_latency_ms_bucket{direction="inbound",status_code="200",le="10"} 50
response_latency_ms_bucket{direction="inbound",status_code="200",le="100"} 90
response_latency_ms_bucket{direction="inbound",status_code="200",le="+Inf"} 100
identity_cert_expiration_timestamp_seconds 1795972428
`;
const after = `
request_total{direction="inbound",tls="true",client_id="spiffe://x/ns/a/sa/b"} 200
request_total{direction="outbound",authority="books:80"} 5000
response_total{direction="inbound",status_code="200",classification="success"} 185
response_total{direction="inbound",status_code="500",classification="failure"} 15
response_latency_ms_bucket{direction="inbound",status_code="200",le="10"} 130
response_latency_ms_bucket{direction="inbound",status_code="200",le="100"} 190
response_latency_ms_bucket{direction="inbound",status_code="200",le="+Inf"} 200
tcp_open_connections{direction="inbound",peer="src"} 3
tcp_open_connections{direction="outbound",peer="src"} 7
identity_cert_expiration_timestamp_seconds 1795972428
garbage line that is not a sample
`;

test("a stat row is the inbound window between two scrapes", () => {
  const row = statRow(scrape(before, 0), scrape(after, 10_000));
  assert.equal(row.meshed, true);
  assert.equal(row.rps, 10, "100 inbound requests in 10 s; outbound traffic is not the workload's");
  assert.equal(row.success, 0.95, "95 of 100 responses in the window succeeded");
  assert.equal(row.tcpConnections, 3);
  // Window buckets: 80 ≤ 10 ms, 100 ≤ 100 ms, 100 in all: the median lies in the first bucket.
  assert.equal(row.p50Ms, 6.25);
  assert.ok(row.p99Ms !== undefined && row.p99Ms > 10 && row.p99Ms <= 100);
  const table = renderStatTable([row]);
  assert.match(
    table,
    /^NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP_CONN$/m,
  );
  assert.match(table, /^web\s+1\/1\s+95\.00%\s+10\.0rps\s+6\.3ms/m);
});

test("no traffic in the window: no success rate or latency, not zero", () => {
  const row = statRow(scrape(after, 0), scrape(after, 5000));
  assert.equal(row.rps, 0);
  assert.equal(row.success, undefined);
  assert.equal(row.p50Ms, undefined);
  assert.match(renderStatTable([row]), /web\s+1\/1\s+-\s+0\.0rps\s+-\s+-\s+-\s+3/);
});

test("quantile interpolates like histogram_quantile and stays below +Inf", () => {
  const buckets = new Map([
    [1, 0],
    [2, 50],
    [Number.POSITIVE_INFINITY, 100],
  ]);
  assert.equal(quantile(0.25, buckets), 1.5);
  assert.equal(quantile(0.99, buckets), 2);
  assert.equal(quantile(0.5, new Map()), undefined);
});
