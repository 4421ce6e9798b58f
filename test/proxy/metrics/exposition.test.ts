// The proxy's /metrics text, held to what prom-client printed before the proxy stopped loading it
// (the golden at the bottom was captured from prom-client's Registry for the same calls), read back
// by viz's parser and by Prometheus' own (github.com/prometheus/common/expfmt, built with Go).
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { promisify } from "node:util";
import { Counter, Registry as PromRegistry } from "prom-client";
import { CONTENT_TYPE, Registry } from "../../../proxy/metrics/exposition.js";
import { ProxyMetrics } from "../../../proxy/metrics/index.js";
import { SeriesCounter, SeriesGauge, SeriesHistogram } from "../../../proxy/metrics/series.js";
import { parsePrometheusText, type Sample } from "../../../viz/prometheus.js";

/** A socket as ProxyMetrics.connection sees it: events and byte counts. */
function fakeSocket(bytesRead: number, bytesWritten: number): import("node:net").Socket {
  return Object.assign(new EventEmitter(), { bytesRead, bytesWritten }) as never;
}

/** Requests (one with a label value needing every escape), a route, a retry, connections, the cert. */
function scenario(t: TestContext): ProxyMetrics {
  let now = 0;
  t.mock.method(performance, "now", () => now);
  const m = new ProxyMetrics({ namespace: "shop", pod: "web-1", deployment: "web" });
  const out = m.stack({
    direction: "outbound",
    authority: "books:80",
    tls: "true",
    server_id: "spiffe://x/ns/a/sa/b",
    dst_namespace: "shop",
    dst_service: "books",
  });
  for (const [status, ms] of [
    [200, 3],
    [200, 12.5],
    [503, 700],
  ] as const) {
    const rec = m.request(out);
    now += ms;
    rec.firstByte(status);
    rec.end({ status });
  }
  const odd = m.request(m.stack({ direction: "inbound", tls: "true", client_id: 'a"b\\c\nd' }));
  now += 60000; // past the last bucket: only +Inf counts it
  odd.firstByte(200);
  odd.end({ status: 200, grpcStatus: "14" });
  const route = m.route("books", "GET /books/{id}");
  now += 1;
  route.firstByte(200);
  route.end({ status: 200 });
  m.retry("books", "GET /books/{id}");
  const loopback = { direction: "outbound", peer: "src", tls: "no_identity", no_tls_reason: "loopback" };
  const a = fakeSocket(120, 4096);
  m.connection(loopback, a);
  const b = fakeSocket(0, 0);
  m.connection({ direction: "inbound", peer: "src", tls: "true", client_id: "spiffe://x/ns/a/sa/c" }, b);
  // The same labels in another key order: the same series.
  m.connection(
    { no_tls_reason: "loopback", tls: "no_identity", peer: "src", direction: "outbound" },
    fakeSocket(7, 9),
  );
  a.emit("close");
  b.emit("error", Object.assign(new Error("reset"), { code: "ECONNRESET" }));
  b.emit("close");
  m.certExpiry.set(1767225600);
  m.certRefresh.inc();
  m.certRefresh.inc();
  return m;
}

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

/** A registry with one family of each type whose help and label values need escaping. */
function escapes(): { registry: Registry; help: string; value: string } {
  const registry = new Registry();
  const help = 'Help with a backslash \\ and a\nnewline, and "quotes" left alone.';
  const value = 'quote " backslash \\ newline \n end';
  new SeriesCounter("odd_total", help, registry).inc("k", () => ({ v: value, plain: "x" }), 2);
  const gauge = new SeriesGauge("odd_gauge", help, registry);
  gauge.inc("k", () => ({ v: value }), 5);
  gauge.dec("k", () => ({ v: value }), 2);
  gauge.set("other", () => ({ v: "" }), 1.5);
  new SeriesHistogram("odd_ms", help, registry, [1, 10]).observe("k", () => ({ v: value }), 4);
  return { registry, help, value };
}

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

// The Go tier: Prometheus' own text parser must accept the output and read the same samples as viz.
// It needs Go (the cluster tier's toolchain) and the Go module proxy or the cache; it skips, saying
// why, only outside CI: with CI=true a missing Go or a failed build fails the test.
test("Prometheus' own parser (expfmt) reads the same samples, types and help", async (t) => {
  const checker = await buildExpfmtChecker();
  if ("blocker" in checker) {
    if (process.env.CI === "true") assert.fail(`expfmt tier cannot run in CI: ${checker.blocker}`);
    t.skip(checker.blocker);
    return;
  }
  const parse = async (text: string) => {
    const child = promisify(execFile)(checker.bin, [], { maxBuffer: 1 << 24 });
    child.child.stdin?.end(text);
    return JSON.parse((await child).stdout) as ExpfmtResult;
  };
  const { body } = await scenario(t).render();
  const go = await parse(body);
  assert.deepEqual(sorted(go.samples), sorted(parsePrometheusText(body)));
  assert.equal(go.types.response_latency_ms, "HISTOGRAM");
  assert.equal(go.types.tcp_open_connections, "GAUGE");
  assert.equal(go.types.identity_cert_refresh_count, "COUNTER");

  const { registry, help, value } = escapes();
  const odd = await parse(registry.render());
  assert.deepEqual(odd.help, { odd_total: help, odd_gauge: help, odd_ms: help });
  assert.deepEqual(
    odd.samples.filter((s) => s.name === "odd_total"),
    [{ name: "odd_total", labels: { v: value, plain: "x" }, value: 2 }],
  );
  assert.deepEqual(sorted(odd.samples), sorted(parsePrometheusText(registry.render())));
});

interface ExpfmtResult {
  types: Record<string, string>;
  help: Record<string, string>;
  samples: Sample[];
}

function sorted(samples: Sample[]): string[] {
  return samples
    .map((s) => JSON.stringify([s.name, Object.entries(s.labels).sort(), s.value]))
    .sort((a, b) => (a < b ? -1 : 1));
}

/** Builds the checker under `~/.cache/trellis/expfmt-check/` (Go's caches make rebuilds quick). */
async function buildExpfmtChecker(): Promise<{ bin: string } | { blocker: string }> {
  const go = ["go", "/usr/local/go/bin/go"].find((g) => spawnSync(g, ["version"]).status === 0);
  if (!go) return { blocker: "Go is not installed (needed to build Prometheus' expfmt parser)" };
  const cache = process.env.TRELLIS_CACHE_DIR ?? join(homedir(), ".cache", "trellis");
  const dir = join(cache, "expfmt-check");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "go.mod"), GO_MOD);
  await writeFile(join(dir, "go.sum"), GO_SUM);
  await writeFile(join(dir, "main.go"), MAIN_GO);
  const bin = join(dir, "expfmt-check");
  try {
    await promisify(execFile)(go, ["build", "-o", bin, "."], {
      cwd: dir,
      timeout: 300_000,
      env: {
        ...process.env,
        GOCACHE: process.env.GOCACHE ?? join(cache, "go", "build"),
        GOMODCACHE: process.env.GOMODCACHE ?? join(cache, "go", "mod"),
        GOTOOLCHAIN: "local",
        CGO_ENABLED: "0",
        GOFLAGS: "-mod=readonly",
      },
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { blocker: `go build of the expfmt checker failed: ${e.stderr || e.message}` };
  }
  return { bin };
}

// Pinned: the same versions and sums as the cluster tier's go.sum, so go.sum is all the checking needed.
const GO_MOD = `module trellis/expfmtcheck

go 1.25.0

require (
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/common v0.70.0
)

require (
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
`;

const GO_SUM = `github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 h1:C3w9PqII01/Oq1c1nUAm88MOHcQC9l5mIlSMApZMrHA=
github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822/go.mod h1:+n7T8mK8HuQTcFwEeznm/DIxMOiR9yIdICNftLE1DvQ=
github.com/prometheus/client_model v0.6.2 h1:oBsgwpGs7iVziMvrGhE53c/GrLUsZdHnqNwqPLxwZyk=
github.com/prometheus/client_model v0.6.2/go.mod h1:y3m2F6Gdpfy6Ut/GBsUqTWZqCUvMVzSfMLjcu6wAwpE=
github.com/prometheus/common v0.70.0 h1:bcpru3tWPVnxGnETLgOV5jbp/JRXgYEyv65CuBLAMMI=
github.com/prometheus/common v0.70.0/go.mod h1:S/SFasQmgGiYH6C81LKCtYa8QACgthGg5zxL2udV7SY=
google.golang.org/protobuf v1.36.11 h1:fV6ZwhNocDyBLK0dj+fg8ektcVegBBuEolpbTQyBNVE=
google.golang.org/protobuf v1.36.11/go.mod h1:HTf+CrKn2C3g5S8VImy6tdcUvCska2kB7j23XfzDpco=
`;

/** Reads the text format on stdin with expfmt and prints types, help and samples as JSON. */
const MAIN_GO = `package main

import (
	"encoding/json"
	"os"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type sample struct {
	Name   string            \`json:"name"\`
	Labels map[string]string \`json:"labels"\`
	Value  float64           \`json:"value"\`
}

func fail(err error) {
	os.Stderr.WriteString(err.Error() + "\\n")
	os.Exit(1)
}

func main() {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fail(err)
	}
	out := struct {
		Types   map[string]string \`json:"types"\`
		Help    map[string]string \`json:"help"\`
		Samples []sample          \`json:"samples"\`
	}{map[string]string{}, map[string]string{}, []sample{}}
	list := []*dto.MetricFamily{}
	for name, mf := range families {
		out.Types[name] = mf.GetType().String()
		out.Help[name] = mf.GetHelp()
		list = append(list, mf)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, list...)
	if err != nil {
		fail(err)
	}
	for _, s := range vec {
		labels := map[string]string{}
		for k, v := range s.Metric {
			if k != model.MetricNameLabel {
				labels[string(k)] = string(v)
			}
		}
		out.Samples = append(out.Samples, sample{string(s.Metric[model.MetricNameLabel]), labels, float64(s.Value)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}
`;

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
tcp_read_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 120
tcp_read_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="inbound",peer="src",tls="true",client_id="spiffe://x/ns/a/sa/c"} 0

# HELP tcp_write_bytes_total Total count of bytes written to peers.
# TYPE tcp_write_bytes_total counter
tcp_write_bytes_total{namespace="shop",pod="web-1",deployment="web",direction="outbound",peer="src",tls="no_identity",no_tls_reason="loopback"} 4096
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
