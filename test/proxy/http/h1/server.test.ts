// The HTTP/1.1 relay's server side (proxy/http/h1/server.ts) between raw clients and backends over
// loopback, wired as the outbound proxy wires it: Http1Server → exchange() → Http1Pool. Pipelining,
// HTTP/1.0 framing, trailers, header bytes, abusive clients, upgrades, half-closes and draining, each
// asserted on the bytes the client and the backend see.
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import { type Duplex, PassThrough } from "node:stream";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { UpgradeRequest } from "../../../../proxy/http/h1/server.js";
import type { SplicedReads } from "../../../../proxy/transport/reads.js";
import {
  assertStillServes,
  echoBackend,
  ok,
  path,
  rawBackend,
  refusal,
  slowBackend,
  streamingBackend,
  text,
} from "./backends.js";
import { closedPort, listen, RawClient, signal, startRelay } from "./support.js";

const E9 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]); // "caf\xe9\r\n"
const UTF8_E9 = Buffer.from([0xc3, 0xa9]);

test("three pipelined requests in one write are answered in order, a POST body among them", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "GET /one HTTP/1.1\r\nHost: backend\r\n\r\n" +
      "POST /two HTTP/1.1\r\nHost: backend\r\nContent-Length: 11\r\n\r\npayload-two" +
      "GET /three HTTP/1.1\r\nHost: backend\r\n\r\n",
  );
  const answers: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await client.response();
    assert.equal(res.status, 200);
    answers.push(text(res));
  }
  assert.deepEqual(answers, ["GET /one ", "POST /two payload-two", "GET /three "]);
  assert.equal(client.unread.length, 0, "nothing after the third response");
  assert.deepEqual(
    relay.outcomes.map((o) => [o.status, o.failed]),
    [
      [200, false],
      [200, false],
      [200, false],
    ],
  );
  // The connection is still usable afterwards.
  await client.write("GET /four HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await client.response()), "GET /four ");
});

test("an HTTP/1.0 client without keep-alive gets connection: close and the connection closes", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /old HTTP/1.0\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(res.headers.connection, "close");
  assert.equal(text(res), "GET /old ");
  await client.whenClosed();
});

test("an HTTP/1.0 client asking for keep-alive keeps its connection", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  for (const path of ["/a", "/b"]) {
    await client.write(`GET ${path} HTTP/1.0\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.headers.connection, "keep-alive");
    assert.equal(text(res), `GET ${path} `);
  }
  assert.equal(client.closed, false);
});

test("an HTTP/1.0 client gets a streamed chunked response delimited by the connection's end", async (t) => {
  const backend = await streamingBackend(t);
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /stream HTTP/1.0\r\nHost: backend\r\n\r\n");
  const finish = await backend.started;
  await client.received("first-");
  finish("second");
  await client.whenClosed();
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(res.headers["transfer-encoding"], undefined);
  assert.equal(res.headers["content-length"], undefined);
  assert.equal(res.headers.connection, "close");
  assert.equal(res.wire.toString("latin1"), "first-second", "no chunk framing on the wire");
});

test("an HTTP/1.0 client asking for keep-alive still gets the close-delimited body of a streamed response", async (t) => {
  const backend = await streamingBackend(t, { "x-sum": "abc" });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /stream HTTP/1.0\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n");
  const finish = await backend.started;
  await client.received("first-");
  finish("second");
  await client.whenClosed();
  const res = await client.response();
  assert.equal(res.headers.connection, "close");
  assert.equal(res.headers["transfer-encoding"], undefined);
  assert.equal(res.wire.toString("latin1"), "first-second", "trailers have no place in an HTTP/1.0 body");
});

test("an HTTP/1.1 client gets a streamed chunked response chunk-framed, and keeps its connection", async (t) => {
  const backend = await streamingBackend(t);
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /stream HTTP/1.1\r\nHost: backend\r\n\r\n");
  const finish = await backend.started;
  await client.received("first-");
  finish("second");
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(res.chunked, true);
  assert.equal(res.headers["content-length"], undefined);
  assert.equal(text(res), "first-second");
  assert.match(res.wire.toString("latin1"), /^6\r\nfirst-\r\n/);
  assert.equal(res.headers.connection, undefined);
  assert.equal(client.closed, false);
  assert.deepEqual(relay.outcomes, [{ status: 200, grpcStatus: undefined, failed: false }]);
});

test("a backend's HTTP/1.1 trailers reach an HTTP/1.1 client, streamed or arriving whole", async (t) => {
  const streamed = await streamingBackend(t, { "x-checksum": "c0ffee" });
  const whole = await listen(
    t,
    http.createServer((_req, res) => {
      res.writeHead(200, { trailer: "x-checksum" });
      res.write("all-");
      res.addTrailers({ "x-checksum": "beef" });
      res.end("at-once");
    }),
  );
  const relayStreamed = await startRelay(t, streamed.port);
  const client = await RawClient.connect(t, relayStreamed.port);
  await client.write("GET /t HTTP/1.1\r\nHost: backend\r\n\r\n");
  const finish = await streamed.started;
  await client.received("first-");
  finish("second");
  const res = await client.response();
  assert.equal(res.chunked, true);
  assert.equal(text(res), "first-second");
  assert.deepEqual(res.trailers, { "x-checksum": "c0ffee" });

  const relayWhole = await startRelay(t, whole);
  const client2 = await RawClient.connect(t, relayWhole.port);
  await client2.write("GET /t HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res2 = await client2.response();
  assert.equal(res2.chunked, true, "trailers need chunked framing");
  assert.equal(text(res2), "all-at-once");
  assert.deepEqual(res2.trailers, { "x-checksum": "beef" });
});

test("a header byte 0xE9 crosses the relay as that one byte, both ways", async (t) => {
  for (const streamed of [false, true]) {
    const backend = await rawBackend(t, (socket) => {
      const head = Buffer.from(
        "HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nTransfer-Encoding: chunked\r\n\r\n",
        "latin1",
      );
      if (streamed) {
        socket.write(Buffer.concat([head, Buffer.from("2\r\nok\r\n")]));
        setImmediate(() => socket.write("0\r\n\r\n"));
      } else socket.write(Buffer.concat([head, Buffer.from("2\r\nok\r\n0\r\n\r\n")]));
    });
    const relay = await startRelay(t, backend.port);
    const client = await RawClient.connect(t, relay.port);
    await client.write(Buffer.from("GET / HTTP/1.1\r\nHost: backend\r\nX-Name: caf\xe9\r\n\r\n", "latin1"));
    const res = await client.response();
    assert.equal(text(res), "ok");
    const head = backend.heads[0] ?? Buffer.alloc(0);
    assert.ok(head.includes(E9), `the backend got ${JSON.stringify(head.toString("latin1"))}`);
    assert.ok(!head.includes(UTF8_E9));
    assert.ok(client.all.includes(E9), `the client got ${JSON.stringify(res.head)}`);
    assert.ok(!client.all.includes(UTF8_E9));
    assert.equal(res.headers["x-name"], "caf\xe9");
  }
});

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
  // the reads over waits for it.
  await client.write("GET /not-http-any-more HTTP/1.1\r\n\r\n");
  await delay(100);
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
  await silent.write(""); // connected, nothing sent
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
  const relay = await startRelay(t, backend.port, { keepAliveTimeoutMs: 300 });
  const busy = await RawClient.connect(t, relay.port);
  await busy.write("GET /slow HTTP/1.1\r\nHost: backend\r\n\r\n");
  const release = await backend.held;
  // The idle connection's last byte comes after the busy one's: once it is closed, the busy one has
  // been quiet for longer than the timeout too.
  const idle = await RawClient.connect(t, relay.port);
  await idle.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await idle.response()), "fast /1");
  await idle.whenClosed();
  release();
  assert.equal(text(await busy.response()), "slow");
});

test("HEAD, 204 and 304 answers carry no body, and the connection goes on", async (t) => {
  const backend = await rawBackend(t, (socket, head) => {
    const p = path(head);
    if (p === "/head") socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    else if (p === "/204") socket.write("HTTP/1.1 204 No Content\r\n\r\n");
    else if (p === "/304") socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
    else ok(socket, p);
  });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "HEAD /head HTTP/1.1\r\nHost: backend\r\n\r\n" +
      "GET /204 HTTP/1.1\r\nHost: backend\r\n\r\n" +
      "GET /304 HTTP/1.1\r\nHost: backend\r\n\r\n" +
      "GET /last HTTP/1.1\r\nHost: backend\r\n\r\n",
  );
  const head = await client.response("HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], "1234");
  assert.equal(head.headers["transfer-encoding"], undefined);
  const noContent = await client.response();
  assert.equal(noContent.status, 204);
  assert.equal(noContent.headers["content-length"], undefined);
  assert.equal(noContent.headers["transfer-encoding"], undefined);
  assert.equal((await client.response()).status, 304);
  assert.equal(text(await client.response()), "/last");
  assert.equal(client.unread.length, 0);
});

test("Expect: 100-continue gets one 100 Continue, then the body goes through", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "POST /e HTTP/1.1\r\nHost: backend\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
  );
  await client.received("HTTP/1.1 100 Continue\r\n\r\n");
  await client.write("body");
  const res = await client.response();
  assert.equal(text(res), "POST /e body");
  assert.equal(client.all.toString("latin1").split("100 Continue").length, 2, "one 100 Continue");
});

test("a backend's body delimited by its connection's end reaches an HTTP/1.1 client chunked", async (t) => {
  const backend = await rawBackend(t, (socket) => {
    socket.write("HTTP/1.0 200 OK\r\n\r\npart-one;");
    setImmediate(() => socket.end("part-two"));
  });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(text(res), "part-one;part-two");
  assert.equal(res.chunked, true);
  // The next request needs a new backend connection, and gets one.
  await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await client.response()), "part-one;part-two");
});

test("a client that half-closes after its request gets the response, then the connection closes", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  for (const connection of ["close", "keep-alive"]) {
    const client = await RawClient.connect(t, relay.port);
    await client.write(`GET /half HTTP/1.1\r\nHost: backend\r\nConnection: ${connection}\r\n\r\n`);
    client.end();
    assert.equal(text(await client.response()), "GET /half ");
    await client.whenClosed();
  }
});
