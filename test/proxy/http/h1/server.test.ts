// The HTTP/1.1 relay's server side (proxy/http/h1/server.ts) between raw clients and backends over
// loopback, wired as the outbound proxy wires it: Http1Server → exchange() → Http1Pool. How requests
// and responses are framed: pipelining, HTTP/1.0, chunks and trailers, header bytes, bodiless
// answers, 100-continue and half-closes, each asserted on the bytes the client and the backend see.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { echoBackend, ok, path, rawBackend, streamingBackend, text } from "./backends.js";
import { listen, RawClient, startRelay } from "./support.js";

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

test("a request head of more than 32 fields, or one read after trailers, keeps its target", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  // llhttp hands such heads over in batches, the target with the first batch.
  const fields = Array.from({ length: 40 }, (_, i) => `X-Field-${i}: ${i}\r\n`).join("");
  await client.write(`GET /forty-fields HTTP/1.1\r\nHost: backend\r\n${fields}\r\n`);
  assert.equal(text(await client.response()), "GET /forty-fields ");
  await client.write(
    "POST /trailers HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n" +
      "GET /after-trailers HTTP/1.1\r\nHost: backend\r\n\r\n",
  );
  assert.equal(text(await client.response()), "POST /trailers abc");
  assert.equal(text(await client.response()), "GET /after-trailers ");
});

test("a request whose Connection header names Content-Length keeps its body", async (t) => {
  const backend = await echoBackend(t);
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(
    "POST /named HTTP/1.1\r\nHost: backend\r\nConnection: content-length\r\nContent-Length: 3\r\n\r\nabc" +
      "GET /next HTTP/1.1\r\nHost: backend\r\n\r\n",
  );
  assert.equal(text(await client.response()), "POST /named abc");
  assert.equal(text(await client.response()), "GET /next ");
});

test("a Content-Length with leading zeros reaches the backend as plain digits, the body intact", async (t) => {
  const backend = await rawBackend(t, (socket) => ok(socket, "ok"));
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  // A body of zero bytes: the raw backend reads heads only.
  await client.write("POST /zeros HTTP/1.1\r\nHost: backend\r\nContent-Length: 000\r\n\r\n");
  assert.equal(text(await client.response()), "ok");
  assert.match(backend.heads[0]?.toString("latin1") ?? "", /\r\ncontent-length: 0\r\n/);
});

test("a backend's Transfer-Encoding other than chunked, or chunked on HTTP/1.0: 502, never a body passed on without its coding", async (t) => {
  const backend = await rawBackend(t, (socket, head) => {
    const p = path(head);
    if (p === "/gzip-chunked")
      socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    else if (p === "/gzip") socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc");
    else if (p === "/http10")
      socket.end("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  });
  const relay = await startRelay(t, backend.port);
  for (const p of ["/gzip-chunked", "/gzip", "/http10"]) {
    const client = await RawClient.connect(t, relay.port);
    await client.write(`GET ${p} HTTP/1.1\r\nHost: backend\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.status, 502, p);
    assert.match(res.headers["trellis-proxy-error"] ?? "", /malformed response: Transfer-Encoding/, p);
  }
});

test("a backend's Content-Length with leading zeros reaches the client as plain digits", async (t) => {
  const backend = await rawBackend(t, (socket) =>
    socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0004\r\n\r\nfine"),
  );
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.headers["content-length"], "4");
  assert.equal(text(res), "fine");
});
