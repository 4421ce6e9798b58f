// The HTTP/1.1 relay's server side (proxy/http/h1/server.ts), wired as in server.test.ts: what ends a
// client connection or hands it over. Abusive clients (garbage, oversized or trickled heads, request
// smuggling), upgrades, draining and the idle deadlines.
import assert from "node:assert/strict";
import { once } from "node:events";
import { type Duplex, PassThrough } from "node:stream";
import { test } from "node:test";
import type { UpgradeRequest } from "../../../../proxy/http/h1/server.js";
import type { SplicedReads } from "../../../../proxy/transport/reads.js";
import { until } from "../../../support/wait.js";
import { assertStillServes, echoBackend, ok, rawBackend, refusal, slowBackend, text } from "./backends.js";
import { closedPort, RawClient, signal, startRelay } from "./support.js";

test("random binary is answered 400 (or cut) and the connection closes", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  // Fixed bytes, so a failure reproduces: a TLS ClientHello's start, then noise.
  const noise = Buffer.from(Array.from({ length: 505 }, (_, i) => (i * 167 + 13) & 0xff));
  const garbage = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]), noise]);
  const client = await RawClient.connect(t, relay.port);
  await client.write(garbage);
  const status = await refusal(client);
  assert.ok(status === undefined || status === 400, `answered ${status}`);
  assert.equal(relay.outcomes.length, 0, "nothing reached the backend");
  await assertStillServes(t, relay.port);
});

test("a head over maxHeaderBytes is answered 431 and the connection closes", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend, { maxHeaderBytes: 8 * 1024 });
  const client = await RawClient.connect(t, relay.port);
  await client.write(`GET / HTTP/1.1\r\nHost: backend\r\nX-Big: ${"x".repeat(16 * 1024)}\r\n\r\n`);
  assert.equal(await refusal(client), 431);
  assert.match(client.all.toString("latin1"), /\r\nconnection: close\r\n/);
  assert.equal(relay.outcomes.length, 0);
  await assertStillServes(t, relay.port);
});

test("a head trickled a byte at a time past headersTimeoutMs is answered 408 (or cut)", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend, { headersTimeoutMs: 1000 });
  const client = await RawClient.connect(t, relay.port);
  // 40 bytes at 200 ms each take 8 s: the relay must give up well before the head could complete.
  // Both sides run on the real clock and timers fire in the order they are due, so the relay's sweep
  // past the deadline comes before the last byte however slow the machine.
  const head = `GET / HTTP/1.1\r\nHost: backend\r\nX-Slow: ${"s".repeat(10)}`;
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent < head.length && !client.closed) client.socket.write(head[sent++] as string);
  }, 200);
  t.after(() => clearInterval(trickle));
  const status = await refusal(client);
  clearInterval(trickle);
  assert.ok(status === undefined || status === 408, `answered ${status}`);
  assert.ok(sent < head.length, "the connection was cut before the head was complete");
  await assertStillServes(t, relay.port);
});

test("a request with both Content-Length and Transfer-Encoding is refused 400, never forwarded", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "POST / HTTP/1.1\r\nHost: backend\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: backend\r\n\r\n",
  );
  const status = await refusal(client);
  assert.ok(status === undefined || status === 400, `answered ${status}`);
  assert.doesNotMatch(client.all.toString("latin1"), /smuggled/);
  assert.equal(relay.outcomes.length, 0);
});

test("Transfer-Encoding other than chunked, on HTTP/1.0, or an HTTP/0.9 or 2.0 request line: refused, never forwarded", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const body = "3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: backend\r\n\r\n";
  const cases: Array<[string, number]> = [
    // The relay re-frames a body as chunked: a coding before it would be dropped on the way.
    [`POST / HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body}`, 501],
    [
      `POST / HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      501,
    ],
    [`POST / HTTP/1.0\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, 400],
    ["GET /\r\n\r\n", 505],
    ["GET / HTTP/2.0\r\nHost: backend\r\n\r\n", 505],
  ];
  for (const [request, status] of cases) {
    const client = await RawClient.connect(t, relay.port);
    await client.write(request);
    assert.equal(await refusal(client), status, JSON.stringify(request.slice(0, 60)));
    assert.doesNotMatch(client.all.toString("latin1"), /smuggled/);
  }
  assert.equal(relay.outcomes.length, 0, "nothing reached the backend");
  await assertStillServes(t, relay.port);
});

test("an Upgrade request hands onUpgrade the socket and the bytes after its head", async (t) => {
  const backend = await rawBackend(t, (socket) => ok(socket, "no"));
  const upgraded = signal<{ req: UpgradeRequest; socket: Duplex; rest: Buffer; reads: SplicedReads }>();
  const relay = await startRelay(t, backend.port, {
    onUpgrade: (req, socket, rest, reads) => upgraded.resolve({ req, socket, rest, reads }),
  });
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "GET /chat?room=1 HTTP/1.1\r\nHost: chat.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nrest\x00\xff\r\n",
  );
  const { req, socket, rest, reads } = await upgraded.promise;
  assert.equal(req.method, "GET");
  assert.equal(req.url, "/chat?room=1");
  assert.equal(req.authority, "chat.local");
  assert.equal(req.versionMinor, 1);
  assert.deepEqual(rest, Buffer.from("rest\x00\xff\r\n", "latin1"));
  // From here the bytes are the new owner's, even ones that look like HTTP. What comes before it takes
  // the reads over (here, written out by the client before) waits for it.
  await client.write("GET /not-http-any-more HTTP/1.1\r\n\r\n");
  socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
  const owner = new PassThrough();
  reads.into(socket, owner);
  const [later] = (await once(owner, "data")) as [Buffer];
  assert.equal(later.toString("latin1"), "GET /not-http-any-more HTTP/1.1\r\n\r\n");
  await client.write("more");
  const [more] = (await once(owner, "data")) as [Buffer];
  assert.equal(more.toString("latin1"), "more");
  await client.received("101 Switching Protocols");
  assert.equal(client.all.toString("latin1"), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
  assert.equal(backend.heads.length, 0);
  assert.equal(relay.outcomes.length, 0);
});

test("an Upgrade request without onUpgrade: the connection closes, nothing is forwarded", async (t) => {
  const backend = await rawBackend(t, (socket) => ok(socket, "no"));
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "GET /chat HTTP/1.1\r\nHost: chat.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  await client.whenClosed();
  assert.equal(client.all.length, 0);
  assert.equal(backend.heads.length, 0);
  assert.equal(relay.outcomes.length, 0);
});

test("draining: the next response, and the next proxy error, carry connection: close", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal((await client.response()).headers.connection, undefined);
  relay.server.draining = true;
  await client.write("GET /2 HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(text(res), "GET /2 ");
  assert.equal(res.headers.connection, "close");
  await client.whenClosed();

  const failing = await startRelay(t, await closedPort());
  failing.server.draining = true;
  const client2 = await RawClient.connect(t, failing.port);
  await client2.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
  const err = await client2.response();
  assert.equal(err.status, 502);
  assert.equal(err.headers.connection, "close");
  await client2.whenClosed();
});

test("closeIdle closes idle connections and spares one with a request in flight", async (t) => {
  const backend = await slowBackend(t);
  const relay = await startRelay(t, backend.port);
  const busy = await RawClient.connect(t, relay.port);
  await busy.write("GET /slow HTTP/1.1\r\nHost: backend\r\n\r\n");
  const release = await backend.held;
  const used = await RawClient.connect(t, relay.port);
  await used.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await used.response()), "fast /1");
  const silent = await RawClient.connect(t, relay.port);
  await until("the relay to accept the silent connection", () => relay.accepted === 3);
  relay.server.closeIdle();
  await used.whenClosed();
  await silent.whenClosed();
  release();
  const res = await busy.response();
  assert.equal(text(res), "slow");
  assert.equal(busy.closed, false);
});

test("an idle connection closes after keepAliveTimeoutMs, one waiting for its response does not", async (t) => {
  const backend = await slowBackend(t);
  // The deadline is measured on a clock the test moves: a slow machine cannot make a connection look
  // idle between its accept and its request.
  let clock = Date.now();
  const relay = await startRelay(t, backend.port, { keepAliveTimeoutMs: 300, now: () => clock });
  const busy = await RawClient.connect(t, relay.port);
  await busy.write("GET /slow HTTP/1.1\r\nHost: backend\r\n\r\n");
  const release = await backend.held;
  const idle = await RawClient.connect(t, relay.port);
  await idle.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await idle.response()), "fast /1");
  // Ten timeouts pass for both: the next sweep closes the idle one, and spares the busy one.
  clock += 10 * 300;
  await idle.whenClosed();
  release();
  assert.equal(text(await busy.response()), "slow");
  assert.equal(busy.closed, false);
});

test("a new connection that sends no request within headersTimeoutMs closes; one that did stays for keepAliveTimeoutMs", async (t) => {
  const backend = await echoBackend(t);
  let clock = Date.now();
  let timeouts = 0;
  const relay = await startRelay(t, backend, {
    headersTimeoutMs: 300,
    keepAliveTimeoutMs: 60_000,
    now: () => clock,
    onHeadersTimeout: () => timeouts++,
  });
  const served = await RawClient.connect(t, relay.port);
  await served.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  await served.response();
  const quiet = await RawClient.connect(t, relay.port);
  await until("the relay accepting the quiet connection", () => relay.accepted === 2);
  clock += 10 * 300;
  await quiet.whenClosed();
  assert.equal(timeouts, 1, "counted as a headers timeout");
  assert.equal(served.closed, false, "a connection that sent a request keeps its keep-alive deadline");
});
