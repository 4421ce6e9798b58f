// What the metrics tests render: a scenario of requests, a route, a retry, connections and the
// certificate (exposition.test.ts holds its text to a golden, expfmt.test.ts parses it with Prometheus'
// own parser), and a registry whose help and label values need every escape.
import { EventEmitter } from "node:events";
import type { TestContext } from "node:test";
import { Registry } from "../../../proxy/metrics/exposition.js";
import { ProxyMetrics } from "../../../proxy/metrics/index.js";
import { SeriesCounter, SeriesGauge, SeriesHistogram } from "../../../proxy/metrics/series.js";

/** A socket as ProxyMetrics.connection sees it: events and byte counts. */
function fakeSocket(bytesRead: number, bytesWritten: number): import("node:net").Socket {
  return Object.assign(new EventEmitter(), { bytesRead, bytesWritten }) as never;
}

/** Requests (one with a label value needing every escape), a route, a retry, connections, the cert. */
export function scenario(t: TestContext): ProxyMetrics {
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
  // The same labels in another key order: the same series; still open, its bytes are counted at the
  // scrape (7 read and 9 written on top of the closed one's).
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

/** A registry with one family of each type whose help and label values need escaping. */
export function escapes(): { registry: Registry; help: string; value: string } {
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
