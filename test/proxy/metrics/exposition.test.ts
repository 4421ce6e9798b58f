// The proxy's /metrics text, held to what prom-client printed before the proxy stopped loading it
// (the golden at the bottom was captured from prom-client's Registry for the same calls), and read
// back by viz's parser (Prometheus' own parser reads it in expfmt.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, Registry as PromRegistry } from "prom-client";
import { CONTENT_TYPE, Registry } from "../../../proxy/metrics/exposition.js";
import { ProxyMetrics } from "../../../proxy/metrics/index.js";
import { SeriesCounter, SeriesGauge } from "../../../proxy/metrics/series.js";
import { parsePrometheusText } from "../../../viz/prometheus.js";
import { escapes, scenario } from "./support.js";

test("/metrics is what prom-client printed for the same calls, line for line", async (t) => {
  const { contentType, body } = await scenario(t).render();
  assert.equal(contentType, "text/plain; version=0.0.4; charset=utf-8");
  assert.deepEqual(body.split("\n"), golden().full.split("\n"));
});

test("a proxy with nothing counted yet lists every family; labelless ones read 0", async () => {
  const { body } = await new ProxyMetrics().render();
  assert.deepEqual(body.split("\n"), golden().empty.split("\n"));
});

test("viz's parser reads every sample back, escaped label values included", async (t) => {
  const { body } = await scenario(t).render();
  const lines = body.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const samples = parsePrometheusText(body);
  assert.equal(samples.length, lines.length);
  const odd = samples.filter((s) => s.labels.client_id === 'a"b\\c\nd');
  // request, response, 26 buckets, sum and count.
  assert.equal(odd.length, 30);
  assert.deepEqual(
    odd.find((s) => s.name === "response_total"),
    {
      name: "response_total",
      labels: {
        namespace: "shop",
        pod: "web-1",
        deployment: "web",
        direction: "inbound",
        tls: "true",
        client_id: 'a"b\\c\nd',
        status_code: "200",
        classification: "failure",
        grpc_status: "14",
      },
      value: 1,
    },
  );
});
test("label values escape backslash, quote and newline; help escapes backslash and newline", async () => {
  const { registry } = escapes();
  assert.equal(registry.contentType, CONTENT_TYPE);
  const v = String.raw`v="quote \" backslash \\ newline \n end"`;
  const help = String.raw`Help with a backslash \\ and a\nnewline, and "quotes" left alone.`;
  assert.equal(
    registry.render(),
    [
      `# HELP odd_total ${help}`,
      "# TYPE odd_total counter",
      `odd_total{${v},plain="x"} 2`,
      "",
      `# HELP odd_gauge ${help}`,
      "# TYPE odd_gauge gauge",
      `odd_gauge{${v}} 3`,
      `odd_gauge{v=""} 1.5`,
      "",
      `# HELP odd_ms ${help}`,
      "# TYPE odd_ms histogram",
      `odd_ms_bucket{${v},le="1"} 0`,
      `odd_ms_bucket{${v},le="10"} 1`,
      `odd_ms_bucket{${v},le="+Inf"} 1`,
      `odd_ms_sum{${v}} 4`,
      `odd_ms_count{${v}} 1`,
      "",
    ].join("\n"),
  );
  // prom-client, which the control plane still uses, writes the counter the same way.
  const prom = new PromRegistry();
  new Counter({ name: "odd_total", help: escapes().help, labelNames: ["v", "plain"], registers: [prom] }).inc(
    { v: escapes().value, plain: "x" },
    2,
  );
  assert.equal(registry.render().split("\n\n")[0], (await prom.metrics()).trimEnd());
});

test("registering two families under one name is a bug, caught at startup", () => {
  const registry = new Registry();
  new SeriesCounter("twice_total", "", registry);
  assert.throws(() => new SeriesGauge("twice_total", "", registry), /already registered/);
});

/** Captured from prom-client's Registry (proxy/metrics before it stopped loading it) for scenario(). */
function golden(): { full: string; empty: string } {
  const full = String.raw`# HELP request_total Total count of HTTP requests.
# TYPE request_total counter
request_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books"} 3
request_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd"} 1

# HELP response_total Total count of HTTP responses.
# TYPE response_total counter
response_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",classification="success"} 2
response_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",classification="failure"} 1
response_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",classification="failure",grpc_status="14"} 1

# HELP response_latency_ms Elapsed times between a request's headers being received and its response's first byte, in ms.
# TYPE response_latency_ms histogram
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="1"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="2"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="3"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="4"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="5"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="10"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="20"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="30"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="40"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="50"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="100"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="200"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="300"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="400"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="500"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="1000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="2000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="3000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="4000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="5000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="10000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="20000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="30000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="40000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="50000"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200",le="+Inf"} 2
response_latency_ms_sum{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200"} 15.5
response_latency_ms_count{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="200"} 2
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="1"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="2"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="3"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="4"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="5"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="10"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="20"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="30"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="40"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="50"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="100"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="200"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="300"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="400"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="500"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="1000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="2000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="3000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="4000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="5000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="10000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="20000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="30000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="40000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="50000"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503",le="+Inf"} 1
response_latency_ms_sum{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503"} 700
response_latency_ms_count{namespace="shop",pod="web-1",deployment="web",direction="outbound",authority="books:80",tls="true",server_id="spiffe://x/ns/a/sa/b",dst_namespace="shop",dst_service="books",status_code="503"} 1
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="1"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="2"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="3"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="4"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="5"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="10"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="20"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="30"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="40"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="50"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="100"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="200"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="300"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="400"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="500"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="1000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="2000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="3000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="4000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="5000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="10000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="20000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="30000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="40000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="50000"} 0
response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200",le="+Inf"} 1
response_latency_ms_sum{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200"} 60000
response_latency_ms_count{namespace="shop",pod="web-1",deployment="web",direction="inbound",tls="true",client_id="a\"b\\c\nd",status_code="200"} 1

# HELP route_request_total Total count of HTTP requests, per route.
# TYPE route_request_total counter
route_request_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}"} 1

# HELP route_response_total Total count of HTTP responses, per route.
# TYPE route_response_total counter
route_response_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",classification="success"} 1

# HELP route_response_latency_ms Elapsed times between a request's headers being received and its response's first byte, per route, in ms.
# TYPE route_response_latency_ms histogram
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="1"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="2"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="3"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="4"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="5"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="10"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="20"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="30"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="40"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="50"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="100"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="200"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="300"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="400"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="500"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="1000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="2000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="3000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="4000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="5000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="10000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="20000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="30000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="40000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="50000"} 1
route_response_latency_ms_bucket{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200",le="+Inf"} 1
route_response_latency_ms_sum{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200"} 1
route_response_latency_ms_count{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}",status_code="200"} 1

# HELP route_retry_total Total count of retries sent per route, within the retry budget.
# TYPE route_retry_total counter
route_retry_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",dst="books",rt_route="GET /books/{id}"} 1

# HELP http2_session_cut_off_total Total count of HTTP/2 client connections the proxy cut off for abuse, per reason.
# TYPE http2_session_cut_off_total counter

# HELP tcp_connection_shed_total Total count of connections a listener refused or closed to protect the proxy, per listener and reason.
# TYPE tcp_connection_shed_total counter

# HELP mux_stream_refused_total Total count of mux streams a peer opened that the proxy refused, per reason.
# TYPE mux_stream_refused_total counter

# HELP mux_connection_cut_off_total Total count of mux connections from peers the proxy cut off for abuse, per reason.
# TYPE mux_connection_cut_off_total counter

# HELP destination_cache_evicted_total Total count of authorities whose discovery streams were closed to make room (capacity) or unused (idle).
# TYPE destination_cache_evicted_total counter

# HELP destination_cache_size Number of authorities whose discovery streams are open.
# TYPE destination_cache_size gauge

# HELP tcp_open_total Total count of opened connections.
# TYPE tcp_open_total counter
tcp_open_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 2
tcp_open_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c"} 1

# HELP tcp_close_total Total count of closed connections.
# TYPE tcp_close_total counter
tcp_close_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback",classification="success"} 1
tcp_close_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c",classification="failure",errno="ECONNRESET"} 1

# HELP tcp_open_connections Number of currently-open connections.
# TYPE tcp_open_connections gauge
tcp_open_connections{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 1
tcp_open_connections{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c"} 0

# HELP tcp_read_bytes_total Total count of bytes read from peers.
# TYPE tcp_read_bytes_total counter
tcp_read_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 127
tcp_read_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c"} 0

# HELP tcp_write_bytes_total Total count of bytes written to peers.
# TYPE tcp_write_bytes_total counter
tcp_write_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 4105
tcp_write_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c"} 0

# HELP identity_cert_expiration_timestamp_seconds Time when this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch).
# TYPE identity_cert_expiration_timestamp_seconds gauge
identity_cert_expiration_timestamp_seconds 1767225600

# HELP identity_cert_refresh_count The total number of times this proxy's mTLS identity certificate has been refreshed by the identity service.
# TYPE identity_cert_refresh_count counter
identity_cert_refresh_count 2
`;

  const empty = `# HELP request_total Total count of HTTP requests.
# TYPE request_total counter

# HELP response_total Total count of HTTP responses.
# TYPE response_total counter

# HELP response_latency_ms Elapsed times between a request's headers being received and its response's first byte, in ms.
# TYPE response_latency_ms histogram

# HELP route_request_total Total count of HTTP requests, per route.
# TYPE route_request_total counter

# HELP route_response_total Total count of HTTP responses, per route.
# TYPE route_response_total counter

# HELP route_response_latency_ms Elapsed times between a request's headers being received and its response's first byte, per route, in ms.
# TYPE route_response_latency_ms histogram

# HELP route_retry_total Total count of retries sent per route, within the retry budget.
# TYPE route_retry_total counter

# HELP http2_session_cut_off_total Total count of HTTP/2 client connections the proxy cut off for abuse, per reason.
# TYPE http2_session_cut_off_total counter

# HELP tcp_connection_shed_total Total count of connections a listener refused or closed to protect the proxy, per listener and reason.
# TYPE tcp_connection_shed_total counter

# HELP mux_stream_refused_total Total count of mux streams a peer opened that the proxy refused, per reason.
# TYPE mux_stream_refused_total counter

# HELP mux_connection_cut_off_total Total count of mux connections from peers the proxy cut off for abuse, per reason.
# TYPE mux_connection_cut_off_total counter

# HELP destination_cache_evicted_total Total count of authorities whose discovery streams were closed to make room (capacity) or unused (idle).
# TYPE destination_cache_evicted_total counter

# HELP destination_cache_size Number of authorities whose discovery streams are open.
# TYPE destination_cache_size gauge

# HELP tcp_open_total Total count of opened connections.
# TYPE tcp_open_total counter

# HELP tcp_close_total Total count of closed connections.
# TYPE tcp_close_total counter

# HELP tcp_open_connections Number of currently-open connections.
# TYPE tcp_open_connections gauge

# HELP tcp_read_bytes_total Total count of bytes read from peers.
# TYPE tcp_read_bytes_total counter

# HELP tcp_write_bytes_total Total count of bytes written to peers.
# TYPE tcp_write_bytes_total counter

# HELP identity_cert_expiration_timestamp_seconds Time when this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch).
# TYPE identity_cert_expiration_timestamp_seconds gauge
identity_cert_expiration_timestamp_seconds 0

# HELP identity_cert_refresh_count The total number of times this proxy's mTLS identity certificate has been refreshed by the identity service.
# TYPE identity_cert_refresh_count counter
identity_cert_refresh_count 0
`;
  return { full, empty };
}
