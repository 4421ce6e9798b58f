// The proxy's HTTP metrics as Prometheus reads them: Linkerd's names and labels, cumulative latency
// buckets, Linkerd's classification rules.
import assert from "node:assert/strict";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { classify, OTHER_AUTHORITY, ProxyMetrics } from "../../../proxy/metrics/index.js";
import { sum } from "../../support/metrics.js";

test("requests, responses and latency render with the stack's labels and Linkerd's buckets", async () => {
  const metrics = new ProxyMetrics({ namespace: "shop", pod: "web-1", deployment: "web" });
  const stack = metrics.stack({
    direction: "outbound",
    authority: "books:80",
    tls: "true",
    server_id: "spiffe://x/ns/a/sa/b",
  });
  for (let i = 0; i < 3; i++) {
    const rec = metrics.request(stack);
    rec.firstByte(200);
    rec.firstByte(200); // once per request
    rec.end({ status: 200 });
  }
  const failed = metrics.request(stack);
  failed.firstByte(503);
  failed.end({ status: 503 });
  const grpc = metrics.request(
    metrics.stack({ direction: "inbound", tls: "true", client_id: "spiffe://x/ns/a/sa/c" }),
  );
  grpc.firstByte(200);
  grpc.end({ status: 200, grpcStatus: "5" });

  const { body } = await metrics.render();
  const labels = {
    direction: "outbound",
    authority: "books:80",
    namespace: "shop",
    pod: "web-1",
    deployment: "web",
  };
  assert.equal(sum(body, "request_total", labels), 4);
  assert.equal(sum(body, "response_total", { ...labels, status_code: "200", classification: "success" }), 3);
  assert.equal(sum(body, "response_total", { ...labels, status_code: "503", classification: "failure" }), 1);
  assert.equal(
    sum(body, "response_total", { direction: "inbound", grpc_status: "5", classification: "failure" }),
    1,
  );
  assert.equal(sum(body, "response_latency_ms_count", { ...labels, status_code: "200" }), 3);
  assert.equal(sum(body, "response_latency_ms_bucket", { ...labels, status_code: "200", le: "+Inf" }), 3);
  // Cumulative: every bucket from the one holding the observations up counts all three.
  assert.equal(sum(body, "response_latency_ms_bucket", { ...labels, status_code: "200", le: "50000" }), 3);
  assert.match(body, /# TYPE response_latency_ms histogram/);
  assert.match(body, /# TYPE request_total counter/);
});

test("classification: grpc-status decides when present, else 5xx fails", () => {
  assert.equal(classify({ status: 200 }), "success");
  assert.equal(classify({ status: 404 }), "success");
  assert.equal(classify({ status: 500 }), "failure");
  assert.equal(classify({ status: 200, grpcStatus: "0" }), "success");
  assert.equal(classify({ status: 200, grpcStatus: "14" }), "failure");
  assert.equal(classify({ status: 200, failed: true }), "failure");
});

test("equal label sets are one series, however many stacks asked for them", async () => {
  const metrics = new ProxyMetrics();
  for (let i = 0; i < 3; i++) {
    // One stack per connection from the same client, as the inbound side builds them.
    const rec = metrics.request(
      metrics.stack({ direction: "inbound", tls: "true", client_id: "spiffe://x/ns/a/sa/b" }),
    );
    rec.firstByte(200);
    rec.end({ status: 200 });
  }
  const { body } = await metrics.render();
  const lines = body.split("\n").filter((l) => l.startsWith("request_total{"));
  assert.deepEqual(lines, [
    'request_total{direction="inbound",tls="true",client_id="spiffe://x/ns/a/sa/b"} 3',
  ]);
});

test("authorities past the maximum share the _other series instead of adding their own", async () => {
  const metrics = new ProxyMetrics({}, { maxAuthorities: 2 });
  for (const authority of ["a:80", "b:80", "c:80", "d:80", "a:80"]) {
    metrics.request(metrics.stack({ direction: "outbound", authority })).end({ status: 200 });
  }
  const { body } = await metrics.render();
  const lines = body.split("\n").filter((l) => l.startsWith("request_total{"));
  assert.deepEqual(lines, [
    'request_total{direction="outbound",authority="a:80"} 2',
    'request_total{direction="outbound",authority="b:80"} 1',
    `request_total{direction="outbound",authority="${OTHER_AUTHORITY}"} 2`,
  ]);
});

test("a connection's bytes are counted at each scrape while it is open, and the rest once it closes", async (t) => {
  const metrics = new ProxyMetrics();
  const server = net.createServer((s) => s.on("data", (d) => s.write(d)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
  await once(socket, "connect");
  metrics.connection({ direction: "outbound", peer: "dst", tls: "no_identity" }, socket);
  const bytes = async () => {
    const { body } = await metrics.render();
    return [
      sum(body, "tcp_write_bytes_total"),
      sum(body, "tcp_read_bytes_total"),
      sum(body, "tcp_open_connections"),
    ];
  };
  const echoed = (n: number) =>
    new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.length;
        if (got >= n) {
          socket.off("data", onData);
          resolve();
        }
      };
      socket.on("data", onData);
    });
  socket.write(Buffer.alloc(1000));
  await echoed(1000);
  assert.deepEqual(await bytes(), [1000, 1000, 1]);
  socket.write(Buffer.alloc(500));
  await echoed(500);
  assert.deepEqual(await bytes(), [1500, 1500, 1], "only what came since the last scrape is added");
  socket.end(Buffer.alloc(24));
  await once(socket, "close");
  assert.deepEqual(await bytes(), [1524, 1524, 0], "the rest is counted at close, nothing twice");
});

const RETAIN = 600_000;
const requestLines = async (metrics: ProxyMetrics) =>
  (await metrics.render()).body
    .split("\n")
    .filter((l) => /^(request_total|response_latency_ms_count)\{/.test(l));

test("a series that stands still for the retain time is dropped; one that moves stays, and a dropped one comes back from 0", async () => {
  const metrics = new ProxyMetrics({}, { retainIdleMs: RETAIN, timer: false });
  const gone = metrics.stack({ direction: "outbound", authority: "gone:80" });
  const busy = metrics.stack({ direction: "outbound", authority: "busy:80" });
  const send = (stack: typeof gone) => {
    const rec = metrics.request(stack);
    rec.firstByte(200);
    rec.end({ status: 200 });
  };
  send(gone);
  send(busy);
  metrics.sweep(0);
  send(busy);
  metrics.sweep(RETAIN - 1);
  assert.equal((await requestLines(metrics)).length, 4, "nothing is dropped before the retain time");
  send(busy);
  metrics.sweep(RETAIN);
  assert.deepEqual(await requestLines(metrics), [
    'request_total{direction="outbound",authority="busy:80"} 3',
    'response_latency_ms_count{direction="outbound",authority="busy:80",status_code="200"} 3',
  ]);
  send(gone);
  assert.ok(
    (await requestLines(metrics)).includes('request_total{direction="outbound",authority="gone:80"} 1'),
    "the dropped series starts again from 0",
  );
});

test("an open connection's series stay however quiet it is; a closed one's are dropped", async (t) => {
  const metrics = new ProxyMetrics({}, { retainIdleMs: RETAIN, timer: false });
  const server = net.createServer((s) => s.resume());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const quiet = net.connect(port, "127.0.0.1");
  const closing = net.connect(port, "127.0.0.1");
  await Promise.all([once(quiet, "connect"), once(closing, "connect")]);
  t.after(() => quiet.destroy());
  metrics.connection({ direction: "outbound", peer: "dst", target_addr: "quiet" }, quiet);
  metrics.connection({ direction: "outbound", peer: "dst", target_addr: "closing" }, closing);
  closing.destroy();
  await once(closing, "close");
  metrics.sweep(0);
  metrics.sweep(RETAIN);
  const { body } = await metrics.render();
  const tcp = body.split("\n").filter((l) => l.startsWith("tcp_") && !l.startsWith("tcp_connection_shed"));
  assert.ok(tcp.length > 0);
  for (const line of tcp)
    assert.match(line, /target_addr="quiet"/, `a closed connection's series stayed: ${line}`);
  for (const family of [
    "tcp_open_total",
    "tcp_open_connections",
    "tcp_read_bytes_total",
    "tcp_write_bytes_total",
  ])
    assert.ok(
      tcp.some((l) => l.startsWith(`${family}{`)),
      `${family} of the open connection was dropped`,
    );
});

test("a stack let go and made again for the same labels keeps its series; its authority's place is freed after twice the retain time", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const collect = async () => {
    // A WeakRef keeps its target for the rest of the job that made or read it.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  };
  const metrics = new ProxyMetrics({}, { maxAuthorities: 1, retainIdleMs: RETAIN, timer: false });
  let a: object | undefined = metrics.stack({ direction: "outbound", authority: "a:80" });
  metrics.request(a).end({ status: 200 });
  const first = new WeakRef(a);
  a = undefined;
  await collect();
  assert.equal(first.deref(), undefined, "the stack was let go");
  metrics.sweep(0);
  // Made again before its id is let go: the same series, not a second copy of them.
  metrics.request(metrics.stack({ direction: "outbound", authority: "a:80" })).end({ status: 200 });
  assert.deepEqual(
    (await requestLines(metrics)).filter((l) => l.startsWith("request_total")),
    ['request_total{direction="outbound",authority="a:80"} 2'],
  );
  // a:80 holds the only place: b:80 is folded into _other.
  assert.equal(metrics.stack({ direction: "outbound", authority: "b:80" }).authority, OTHER_AUTHORITY);
  await collect();
  metrics.sweep(1);
  metrics.sweep(1 + RETAIN);
  metrics.sweep(1 + 2 * RETAIN);
  assert.deepEqual(await requestLines(metrics), [], "the idle series are dropped");
  assert.equal(metrics.stack({ direction: "outbound", authority: "b:80" }).authority, "b:80");
});
