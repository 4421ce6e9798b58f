// Resource exhaustion of the sidecar, with real proxies: thousands of idle and half-open connections
// on each listener (outbound plaintext, inbound mTLS, admin), clients that ask for large responses
// and never read them (HTTP/1.1 through the mux between proxies, and HTTP/1.1 over mTLS straight to
// the inbound listener), an app naming thousands of distinct authorities through the destination
// service, and a meshed peer opening mux streams without end. For each: the proxy applies its bound
// (connections per listener, timeouts, backpressure, the discovery cache, streams per mux
// connection), counts it in a metric that moves, keeps its RSS under RSS_CEILING_MB, and serves a
// well-behaved client while the attack goes on. Counts scale down to the descriptor limit (`ulimit -n`).
import assert from "node:assert/strict";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  DestinationService,
  type GetDestination,
  type Update,
} from "../../control/api/gen/trellis/destination/v1/destination.js";
import { ALPN_HTTP1, ALPN_MUX } from "../../proxy/tls/index.js";
import { countResets, openFilesLimit, openQuiet, type Quiet, whenSettled } from "../support/exhaustion.js";
import { meshedDestination, startMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { connectMtls, hostPort, rssMb } from "../support/sockets.js";
import { until, within } from "../support/wait.js";

/** The proxy's RSS under any of these attacks (about 60 MiB idle). */
const RSS_CEILING_MB = 256;
/** Longer than any bound the proxy applies here: reaching it fails the test. */
const DEADLINE_MS = 30_000;
/** Detection, header and TLS handshake timeouts of the attacked proxies, so idle attackers go soon. */
const TIMEOUT_MS = 3000;
/** Attacking connections per listener: 2000, or what the descriptor limit leaves room for. */
const ATTACK = Math.min(2000, Math.floor((openFilesLimit() - 300) / 2));
/** Each listener's maximum in these tests: half the attack, so the other half is refused. */
const MAX_CONNECTIONS = Math.floor(ATTACK / 2);
/** The slow readers' response: far more than every buffer on the way together. */
const BIG_BYTES = 256 * 1024 * 1024;

/** An HTTP/1.1 app: `/big` streams BIG_BYTES as fast as its reader takes them, anything else "ok". */
async function app(t: TestContext): Promise<{ port: number; written: () => number[] }> {
  const written: number[] = [];
  const chunk = Buffer.alloc(64 * 1024, "x");
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url !== "/big") {
      res.end("ok\n");
      return;
    }
    const index = written.push(0) - 1;
    res.writeHead(200, { "content-length": BIG_BYTES });
    const pump = () => {
      while ((written[index] as number) < BIG_BYTES && !res.destroyed) {
        written[index] = (written[index] as number) + chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, written: () => [...written] };
}

/** A GET on `agent` (a keep-alive connection opened before an attack keeps being used). */
function request(agent: http.Agent, address: string, authority: string, path = "/"): Promise<number> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, agent, headers: { host: authority } }, (res) => {
      res.resume();
      const error = res.headers["trellis-proxy-error"];
      res.once("end", () =>
        error ? reject(new Error(`${res.statusCode} ${error}`)) : resolve(res.statusCode ?? 0),
      );
    });
    req.setTimeout(DEADLINE_MS, () => req.destroy(new Error(`GET ${path} via ${address}: no answer`)));
    req.once("error", reject);
    req.end();
  });
}

const env = (extra: Record<string, string> = {}) => ({
  TRELLIS_PROXY_DETECT_TIMEOUT_MS: String(TIMEOUT_MS),
  TRELLIS_PROXY_TLS_HANDSHAKE_TIMEOUT_MS: String(TIMEOUT_MS),
  TRELLIS_PROXY_INBOUND_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
  TRELLIS_PROXY_OUTBOUND_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
  TRELLIS_PROXY_ADMIN_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
  ...extra,
});

/** Lines of `proxy`'s log that name `reason` as a shed connection's. */
const shedLines = (proxy: TestProxy, reason: string) =>
  proxy.child
    .stderr()
    .split("\n")
    .filter((l) => l.includes(`"reason":"${reason}"`)).length;

test(`${ATTACK} idle and half-open connections on each listener are refused past the maximum and closed by timeouts`, async (t) => {
  const mesh = await startMesh(t);
  const backend = await app(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port], env: env() });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
    env: env(),
  });
  const figures: string[] = [
    `descriptor limit ${openFilesLimit()}: ${ATTACK} connections per listener, maximum ${MAX_CONNECTIONS}`,
  ];
  t.after(() => {
    for (const line of figures) t.diagnostic(line);
  });
  // The well-behaved clients' connections (to the client proxy and to the admin listeners) are
  // opened before the attack, as an app's and a scraper's pooled connections are.
  const app1 = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const scraper = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => {
    app1.destroy();
    scraper.destroy();
  });
  assert.equal(await request(app1, client.outbound, authority), 200);

  const listeners: Array<{
    name: "outbound" | "inbound" | "admin";
    proxy: TestProxy;
    address: string;
    quiet: (i: number) => Quiet;
    timeoutReasons: string[];
    served: () => Promise<number>;
  }> = [
    {
      name: "outbound",
      proxy: client,
      address: client.outbound,
      quiet: (i) => (["nothing", "half-request", "half-client-hello"] as const)[i % 3] as Quiet,
      timeoutReasons: ["detect_timeout", "header_timeout", "not_http"],
      served: () => request(app1, client.outbound, authority),
    },
    {
      name: "inbound",
      proxy: server,
      address: server.inbound,
      quiet: (i) => (i % 2 === 0 ? "nothing" : "half-client-hello"),
      timeoutReasons: ["handshake_timeout"],
      // Through the client proxy's mux connection to this listener, opened before the attack.
      served: () => request(app1, client.outbound, authority),
    },
    {
      name: "admin",
      proxy: client,
      address: client.admin,
      quiet: (i) => (i % 2 === 0 ? "nothing" : "half-request"),
      timeoutReasons: ["header_timeout"],
      served: () => request(scraper, client.admin, client.admin, "/ready"),
    },
  ];

  for (const { name, proxy, address, quiet, timeoutReasons, served } of listeners) {
    await t.test(`${name}: ${ATTACK} connections that say nothing or half of something`, async () => {
      const shed = async (reason: string) =>
        sum(await proxy.metrics(), "tcp_connection_shed_total", { listener: name, reason });
      const reasons = ["max_connections", ...timeoutReasons];
      const before = await Promise.all(reasons.map(shed));
      if (name === "admin") assert.equal(await served(), 200, "the scraper's connection is open");
      const attack = await openQuiet(address, ATTACK, quiet);
      t.after(() => attack.destroy());
      try {
        const held = attack.openNow();
        assert.equal(await served(), 200, `a well-behaved client during the attack on ${name}`);
        const rss = rssMb(proxy);
        // Every attacking connection ends: refused at once, or closed by a timeout.
        await within(
          `the ${name} proxy closing every attacking connection`,
          Promise.all(attack.closed),
          DEADLINE_MS,
        );
        const after = await Promise.all(reasons.map(shed));
        const moved = reasons.map((r, i) => `${r} +${(after[i] as number) - (before[i] as number)}`);
        figures.push(
          `${name}: ${held} of ${ATTACK} not yet seen closed as the last one connected; RSS ${rss.toFixed(0)} MiB during the attack; shed ${moved.join(", ")}`,
        );
        for (const [i, reason] of reasons.entries())
          assert.ok(
            (after[i] as number) > (before[i] as number),
            `tcp_connection_shed_total{listener="${name}",reason="${reason}"} moved`,
          );
        const total = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
        assert.ok(
          total >= ATTACK * 0.9,
          `${name}: ${total} of ${ATTACK} attacking connections counted as shed`,
        );
        // Once per burst: a first line and a summary per window, never a line per connection.
        for (const reason of reasons)
          assert.ok(
            shedLines(proxy, reason) < 20,
            `${name} logged ${shedLines(proxy, reason)} lines for ${reason}`,
          );
        assert.ok(rss < RSS_CEILING_MB, `${name} proxy RSS ${rss.toFixed(0)} MiB`);
        assert.ok(rssMb(proxy) < RSS_CEILING_MB);
      } finally {
        attack.destroy();
      }
      // The listener takes new connections again.
      assert.equal(await request(new http.Agent(), client.outbound, authority), 200);
      assert.equal((await fetch(`http://${proxy.admin}/live`)).status, 200);
    });
  }

  await t.test(
    "inbound: mesh peers that finish the handshake, then send half a request, nothing, or open no mux stream",
    async () => {
      const reason = "header_timeout";
      const before = sum(await server.metrics(), "tcp_connection_shed_total", {
        listener: "inbound",
        reason,
      });
      const peers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => connectMtls(mesh, server, i % 3 === 2 ? ALPN_MUX : ALPN_HTTP1)),
      );
      const closed = peers.map((p) => new Promise<void>((resolve) => p.once("close", () => resolve())));
      for (const [i, p] of peers.entries()) {
        p.on("error", () => {});
        p.on("data", () => {});
        if (i % 3 === 0)
          p.write(`GET / HTTP/1.1\r\nHost: ${authority}\r\ntrellis-dst-port: ${backend.port}\r\n`);
      }
      assert.equal(await request(app1, client.outbound, authority), 200);
      await within("the inbound proxy closing every quiet peer", Promise.all(closed), DEADLINE_MS);
      const after = sum(await server.metrics(), "tcp_connection_shed_total", { listener: "inbound", reason });
      assert.ok(after >= before + 20, `header_timeout +${after - before}`);
      figures.push(
        `inbound: 30 mTLS peers (10 half requests, 10 HTTP/1.1 saying nothing, 10 mux without a stream) closed; header_timeout +${after - before}`,
      );
    },
  );

  for (const proxy of [client, server]) assert.ok(proxy.child.running);
});

test("clients that ask for large responses and never read them hold bounded memory", async (t) => {
  const mesh = await startMesh(t);
  const backend = await app(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port] });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
  });
  const figures: string[] = [];
  t.after(() => {
    for (const line of figures) t.diagnostic(line);
  });
  const READERS = 8;
  const request1 = `GET /big HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
  const readers: net.Socket[] = [];
  t.after(() => {
    for (const r of readers) r.destroy();
  });
  // HTTP/1.1 to the client proxy, carried over the mux to the server proxy: never read.
  for (let i = 0; i < READERS; i++) {
    const socket = net.connect(hostPort(client.outbound));
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.pause();
    socket.write(request1);
    readers.push(socket);
  }
  // HTTP/1.1 over mTLS straight to the server proxy (a mesh client without mux): never read.
  for (let i = 0; i < READERS; i++) {
    const socket = await connectMtls(mesh, server, ALPN_HTTP1, "reader");
    socket.on("error", () => {});
    socket.pause();
    socket.write(`GET /big HTTP/1.1\r\nHost: ${authority}\r\ntrellis-dst-port: ${backend.port}\r\n\r\n`);
    readers.push(socket);
  }
  await until(
    "the app answering every slow reader",
    () => backend.written().length === 2 * READERS,
    DEADLINE_MS,
  );
  // The app writes only as fast as the proxies take: once every buffer on the way is full, it stops.
  const total = await whenSettled(() => backend.written().reduce((a, b) => a + b, 0));
  const written = backend.written();
  const served = await request(new http.Agent(), client.outbound, authority);
  const rss = { client: rssMb(client), server: rssMb(server) };
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  figures.push(
    `${2 * READERS} readers of ${mib(BIG_BYTES)} MiB: the app wrote ${written.map(mib).join(", ")} MiB (total ${mib(total)} MiB) before backpressure stopped it; RSS client ${rss.client.toFixed(0)} MiB, server ${rss.server.toFixed(0)} MiB`,
  );
  assert.equal(served, 200, "a well-behaved client while the slow readers hold their responses");
  for (const [i, n] of written.entries())
    assert.ok(n < BIG_BYTES / 4, `reader ${i}: the app wrote ${mib(n)} MiB before it had to wait`);
  assert.ok(rss.client < RSS_CEILING_MB && rss.server < RSS_CEILING_MB, `RSS ${JSON.stringify(rss)}`);
  // The proxies counted the requests they hold (the metric of a request in flight).
  const requests = sum(await server.metrics(), "request_total", { direction: "inbound" });
  assert.ok(requests >= 2 * READERS, `request_total{direction="inbound"} ${requests}`);
});

test("an app naming thousands of distinct authorities: the discovery cache stays bounded", async (t) => {
  const AUTHORITIES = 20_000;
  const MAX_CACHED = 200;
  const mesh = await startMesh(t);
  const backend = await app(t);
  const open = new Set<grpc.ServerWritableStream<GetDestination, Update>>();
  let peak = 0;
  const destination = new grpc.Server();
  destination.addService(DestinationService, {
    // Every authority is the plaintext app: the test measures the cache, not the hop.
    get: (call: grpc.ServerWritableStream<GetDestination, Update>) => {
      open.add(call);
      peak = Math.max(peak, open.size);
      call.on("cancelled", () => open.delete(call));
      call.write({
        update: {
          $case: "add",
          value: {
            addrs: [
              {
                addr: { ip: "127.0.0.1", port: backend.port },
                weight: 1,
                metricLabels: {},
                identity: "",
                protocolHint: 0,
                proxyInboundPort: 0,
              },
            ],
            metricLabels: {},
          },
        },
      });
    },
    // No profile: an empty one, at once, as the destination service answers for a plain Service.
    getProfile: (call: grpc.ServerWritableStream<GetDestination, unknown>) => {
      call.write({
        fullyQualifiedName: call.request.authority,
        opaqueProtocol: false,
        routes: [],
        retryBudget: undefined,
        dstOverrides: [],
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    destination.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.after(() => destination.forceShutdown());
  const client = await mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: `127.0.0.1:${port}`,
      TRELLIS_PROXY_DESTINATION_CACHE_MAX: String(MAX_CACHED),
    },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());
  const wellKnown = "web.test.svc.cluster.local:80";
  let sent = 0;
  const failed: string[] = [];
  const deadline = Date.now() + 120_000;
  const worker = async () => {
    while (sent < AUTHORITIES && Date.now() < deadline) {
      const i = sent++;
      const status = await request(agent, client.outbound, `h${i}.flood.svc.cluster.local:80`).catch(
        (err: Error) => err.message,
      );
      if (status !== 200) failed.push(`h${i}: ${status}`);
      if (i % 1000 === 0)
        assert.equal(
          await request(agent, client.outbound, wellKnown),
          200,
          "a well-behaved request during the flood",
        );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const metrics = await client.metrics();
  const size = sum(metrics, "destination_cache_size");
  const evicted = sum(metrics, "destination_cache_evicted_total", { reason: "capacity" });
  const rss = rssMb(client);
  t.diagnostic(
    `${sent} distinct authorities (${failed.length} failed${failed.length > 0 ? `: ${failed.slice(0, 3).join(", ")}` : ""}): /metrics ${(metrics.length / 1024 / 1024).toFixed(1)} MiB, cache ${size} of at most ${MAX_CACHED}, ${evicted} evicted, peak ${peak} open Get streams at the destination service; RSS ${rss.toFixed(0)} MiB`,
  );
  assert.ok(sent >= 10 * MAX_CACHED, `${sent} authorities named`);
  // On a loaded machine a few first answers take longer than the proxy waits for them (one second):
  // those requests go straight to the name, which does not resolve. Nothing else may fail.
  const other = failed.filter((f) => !/ENOTFOUND|EAI_AGAIN/.test(f));
  assert.deepEqual(other, [], "flood requests failing other than by a late first answer");
  assert.ok(failed.length <= sent / 100, `${failed.length} of ${sent} flood requests failed`);
  assert.ok(size <= MAX_CACHED, `destination_cache_size ${size}`);
  assert.ok(
    evicted >= sent - MAX_CACHED - 1,
    `destination_cache_evicted_total{reason="capacity"} ${evicted}`,
  );
  assert.ok(peak <= MAX_CACHED + 20, `${peak} Get streams open at once at the destination service`);
  assert.ok(rss < RSS_CEILING_MB, `client proxy RSS ${rss.toFixed(0)} MiB`);
});

test("a meshed peer opening mux streams without end is refused past the limit, then cut off", async (t) => {
  const FLOOD = 10_000;
  const mesh = await startMesh(t);
  const backend = await app(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port] });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal(await request(agent, client.outbound, authority), 200);
  const before = await server.metrics();

  const peer = await connectMtls(mesh, server, ALPN_MUX);
  t.after(() => peer.destroy());
  peer.on("error", () => {});
  const resets = countResets(peer);
  let cut = false;
  peer.once("close", () => {
    cut = true;
  });
  // Each stream opens with half a request head, so none finishes on its own during the flood.
  const head = Buffer.from(`GET / HTTP/1.1\r\nHost: ${authority}\r\ntrellis-dst-port: ${backend.port}\r\n`);
  let opened = 0;
  const deadline = Date.now() + DEADLINE_MS;
  const flood = (async () => {
    while (opened < FLOOD && !cut && Date.now() < deadline) {
      const batch: Buffer[] = [];
      for (let i = 0; i < 100 && opened < FLOOD; i++, opened++) {
        const header = Buffer.alloc(8);
        header.writeUInt16BE(head.length, 2);
        header.writeUInt32BE(2 * opened + 1, 4);
        batch.push(header, head);
      }
      if (!peer.write(Buffer.concat(batch))) await new Promise((resolve) => peer.once("drain", resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const served = await request(agent, client.outbound, authority);
  await flood;
  await until("the server proxy cutting the flooding peer off", () => cut, DEADLINE_MS);
  const after = await server.metrics();
  const refused =
    sum(after, "mux_stream_refused_total", { reason: "max_streams" }) -
    sum(before, "mux_stream_refused_total", { reason: "max_streams" });
  const cutOffs = sum(after, "mux_connection_cut_off_total", { reason: "refused_streams" });
  const rss = rssMb(server);
  t.diagnostic(
    `${opened} streams opened before the cut off; ${resets.get(1) ?? 0} REFUSED resets read; refused ${refused}; RSS ${rss.toFixed(0)} MiB`,
  );
  assert.equal(served, 200, "a well-behaved request through the mesh during the flood");
  // 1024 streams held, then one refusal more than that in a row: the peer is cut off and nothing
  // after it is read.
  assert.equal(refused, 1025, "mux_stream_refused_total");
  assert.equal(cutOffs, 1, 'mux_connection_cut_off_total{reason="refused_streams"}');
  assert.ok(rss < RSS_CEILING_MB, `server proxy RSS ${rss.toFixed(0)} MiB`);
  assert.equal(await request(agent, client.outbound, authority), 200);
});
