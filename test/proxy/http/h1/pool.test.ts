// The HTTP/1.1 relay's pool (proxy/http/h1/client.ts) as the outbound proxy uses it: reconnects when
// a backend closes idle connections, which requests are sent again, refused and hung connects,
// answers before the request body, large bodies both ways, and backpressure across reused connections.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { type TestContext, test } from "node:test";
import { requireTools } from "../../../support/tools.js";
import { until } from "../../../support/wait.js";
import { assertStillServes, ok, path, rawBackend, text } from "./backends.js";
import { closedPort, listen, RawClient, request, startRelay } from "./support.js";

test("a backend that closes its idle keep-alive connection: the next request goes out on a fresh one", async (t) => {
  const backend = await rawBackend(t, (socket, head, conn) => {
    ok(socket, `${path(head)} on ${conn}`);
    socket.end();
  });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  for (const [i, expected] of ["/1 on 1", "/2 on 2", "/3 on 3"].entries()) {
    await client.write(`GET /${i + 1} HTTP/1.1\r\nHost: backend\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.status, 200);
    assert.equal(text(res), expected);
  }
  assert.equal(client.closed, false);
  assert.ok(relay.outcomes.every((o) => o.status === 200 && !o.failed));
});

test("a pooled connection idle past idleTimeoutMs is closed, and one waiting for a slow answer is not", async (t) => {
  const closed: number[] = [];
  const watched = new WeakSet<net.Socket>();
  let answerSlow: (() => void) | undefined;
  const backend = await rawBackend(t, (socket, head, conn) => {
    if (!watched.has(socket)) {
      watched.add(socket);
      socket.on("close", () => closed.push(conn));
    }
    if (path(head) === "/slow") answerSlow = () => ok(socket, `/slow on ${conn}`);
    else ok(socket, `${path(head)} on ${conn}`);
  });
  // Idleness is measured on a clock the test moves, not on how fast a loaded machine gets through
  // the steps; the pool's sweeps run as usual.
  let clock = Date.now();
  const relay = await startRelay(t, backend.port, { idleTimeoutMs: 100, now: () => clock });
  const slow = await RawClient.connect(t, relay.port);
  await slow.write("GET /slow HTTP/1.1\r\nHost: backend\r\n\r\n");
  await until("the backend to hold /slow", () => answerSlow !== undefined);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await client.response()), "/1 on 2");
  // Ten idle timeouts pass for both connections: the one back in the pool is closed by a sweep,
  // the one waiting for an answer is in use, not idle.
  clock += 10 * 100;
  await until("the pool to close its idle connection", () => closed.length > 0);
  assert.deepEqual(closed, [2], "the idle connection was closed by the relay");
  answerSlow?.();
  assert.equal(text(await slow.response()), "/slow on 1");
  assert.deepEqual(closed, [2]);
  assert.ok(relay.outcomes.every((o) => o.status === 200 && !o.failed));
});

/**
 * A backend whose connection 1 answers one request, then drops the next one unanswered, as a backend
 * does when its idle timeout and our request cross on the wire; the relay's pooled connection to it
 * has carried that first request.
 */
async function afterOneReusableAnswer(t: TestContext) {
  const backend = await rawBackend(t, (socket, head, conn) => {
    if (conn === 1 && backend.heads.length > 1) socket.destroy();
    else ok(socket, `${path(head)} on ${conn}`);
  });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await client.response()), "/1 on 1");
  return { backend, relay, client };
}

test("a reused connection the backend closes before answering: a request without a body is sent again", async (t) => {
  const { backend, relay, client } = await afterOneReusableAnswer(t);
  await client.write("GET /2 HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(text(res), "/2 on 2");
  assert.deepEqual(
    backend.heads.map((h) => path(h.toString("latin1"))),
    ["/1", "/2", "/2"],
  );
  assert.deepEqual(
    relay.outcomes.map((o) => [o.status, o.failed]),
    [
      [200, false],
      [200, false],
    ],
  );
});

test("a reused connection the backend closes before answering: the request is sent again on a new connection, not another idle one", async (t) => {
  // Two connections in the pool, then a backend that closes every old connection a request comes on
  // (an app shutting down): a second idle one would meet the same end.
  let held: (() => void) | undefined;
  const backend = await rawBackend(t, (socket, head, conn) => {
    const p = path(head);
    if (p === "/a") held = () => ok(socket, `/a on ${conn}`);
    else if (p === "/b") {
      ok(socket, `/b on ${conn}`);
      held?.();
    } else if (conn <= 2) socket.destroy();
    else ok(socket, `${p} on ${conn}`);
  });
  const relay = await startRelay(t, backend.port);
  const a = await RawClient.connect(t, relay.port);
  const b = await RawClient.connect(t, relay.port);
  await a.write("GET /a HTTP/1.1\r\nHost: backend\r\n\r\n");
  await until("the backend to hold /a", () => held !== undefined);
  await b.write("GET /b HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await b.response()), "/b on 2");
  assert.equal(text(await a.response()), "/a on 1");
  await a.write("GET /c HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await a.response();
  assert.equal(res.status, 200);
  assert.equal(text(res), "/c on 3");
});

test("a reused connection the backend closes before answering: a request with a body is not sent again", async (t) => {
  const { backend, relay, client } = await afterOneReusableAnswer(t);
  // The body ends in the head's last bytes so the raw backend sees it as no head of its own.
  await client.write("POST /2 HTTP/1.1\r\nHost: backend\r\nContent-Length: 2\r\n\r\nhi");
  const res = await client.response();
  assert.equal(res.status, 502);
  assert.match(res.headers["trellis-proxy-error"] ?? "", /^the endpoint closed the request before answering/);
  assert.equal(backend.heads.length, 2, "the POST went out once");
  assert.deepEqual(relay.outcomes.at(-1), { status: 502, failed: true });
});

test("a reused connection the backend closes after part of an answer's head: the request is not sent again", async (t) => {
  const backend = await rawBackend(t, (socket, head, conn) => {
    if (conn === 1 && backend.heads.length > 1) socket.end("HTTP/1.1 200 OK\r\n");
    else ok(socket, `${path(head)} on ${conn}`);
  });
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET /1 HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await client.response()), "/1 on 1");
  await client.write("GET /2 HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.status, 502);
  assert.equal(backend.heads.length, 2, "the GET went out once: the backend had begun answering it");
});

test("a backend that is not listening: 502 with trellis-proxy-error, recorded as failed", async (t) => {
  const relay = await startRelay(t, await closedPort());
  const client = await RawClient.connect(t, relay.port);
  for (let i = 0; i < 2; i++) {
    await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
    const res = await client.response();
    assert.equal(res.status, 502);
    assert.match(
      res.headers["trellis-proxy-error"] ?? "",
      /^could not connect to the endpoint: backend: ECONNREFUSED/,
    );
    assert.equal(res.headers.connection, undefined, "the client's connection stays open");
  }
  assert.deepEqual(relay.outcomes, [
    { status: 502, failed: true },
    { status: 502, failed: true },
  ]);
});

test("a backend that answers 413 before reading a large body: the client gets 413, then its next request works", async (t) => {
  const BODY = 8 * 1024 * 1024;
  const backend = await listen(
    t,
    net.createServer((socket) => {
      socket.on("error", () => {});
      let refused = false;
      socket.on("data", (d: Buffer) => {
        const head = d.toString("latin1");
        // After the 413, the rest of the body is read and dropped until the proxy closes.
        if (refused) return;
        if (head.startsWith("POST")) {
          refused = true;
          socket.end("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        } else ok(socket, path(head));
      });
    }),
  );
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(`POST /big HTTP/1.1\r\nHost: backend\r\nContent-Length: ${BODY}\r\n\r\n`);
  const sending = client.write(Buffer.alloc(BODY, "x"));
  const res = await client.response();
  assert.equal(res.status, 413);
  await sending;
  await client.write("GET /next HTTP/1.1\r\nHost: backend\r\n\r\n");
  const next = await client.response();
  assert.equal(next.status, 200);
  assert.equal(text(next), "/next");
  assert.deepEqual(
    relay.outcomes.map((o) => [o.status, o.failed]),
    [
      [413, false],
      [200, false],
    ],
  );
  // And on a new connection too.
  await assertStillServes(t, relay.port, "/after");
});

test("a connect that never completes is answered 504 after connectTimeoutMs", async (t) => {
  if (!requireTools(t, "python3")) return;
  // A listener that never accepts, its one-place accept queue filled: the kernel drops further SYNs,
  // so connecting hangs (on loopback, with nothing but a process that does not call accept()).
  const child = spawn(
    "python3",
    [
      "-c",
      "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen(0)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => child.kill());
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", () => reject(new Error("python3 exited")));
  });
  const filler = net.connect({ host: "127.0.0.1", port });
  t.after(() => filler.destroy());
  await new Promise((resolve) => filler.once("connect", resolve));
  const relay = await startRelay(t, port, { connectTimeoutMs: 300 });
  const client = await RawClient.connect(t, relay.port);
  await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.status, 504);
  assert.match(res.headers["trellis-proxy-error"] ?? "", /^connecting to the endpoint timed out/);
  assert.deepEqual(relay.outcomes, [{ status: 504, failed: true }]);
});

test("8 MiB bodies stream both ways whole: up with a length or chunked, down chunked", async (t) => {
  const MiB = 1024 * 1024;
  const up = randomBytes(8 * MiB);
  const down = randomBytes(8 * MiB);
  const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const backend = await listen(
    t,
    http.createServer((req, res) => {
      const hash = createHash("sha256");
      req.on("data", (c: Buffer) => hash.update(c));
      req.on("end", () => {
        res.writeHead(200, {
          "x-up-sha256": hash.digest("hex"),
          "x-up-framing": req.headers["content-length"] ?? req.headers["transfer-encoding"] ?? "",
        });
        let offset = 0;
        const pump = () => {
          while (offset < down.length) {
            const piece = down.subarray(offset, offset + 64 * 1024);
            offset += piece.length;
            if (!res.write(piece)) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
    }),
  );
  for (const framing of ["length", "chunked"]) {
    // A relay each: every upload starts on a fresh backend connection.
    const relay = await startRelay(t, backend);
    const headers: http.OutgoingHttpHeaders =
      framing === "length" ? { "content-length": up.length } : { "transfer-encoding": "chunked" };
    const res = await request(relay.port, { method: "POST", path: "/big", headers, body: up });
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-up-framing"], framing === "length" ? String(up.length) : "chunked");
    assert.equal(res.headers["x-up-sha256"], sha256(up));
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.equal(res.body.length, down.length);
    assert.equal(sha256(res.body), sha256(down));
  }
});

test("a pooled connection whose response body met backpressure carries the next exchange", async (t) => {
  // 100 KiB in one write arrives in reads larger than the response stream's buffer, so the relay
  // pauses the backend connection while the client catches up, up to the body's last byte.
  const body = "b".repeat(100 * 1024);
  const backend = await rawBackend(t, (socket, _head, conn) => ok(socket, body, `X-Conn: ${conn}\r\n`));
  const relay = await startRelay(t, backend.port);
  const client = await RawClient.connect(t, relay.port);
  for (let i = 0; i < 3; i++) {
    await client.write("GET / HTTP/1.1\r\nHost: backend\r\n\r\n");
    const res = await client.response();
    assert.equal(res.status, 200);
    assert.equal(res.body.length, body.length);
  }
});

const PIECES = 128;
const PIECE = 16 * 1024;
/** The byte filling piece k of response n: differs between pieces and between responses. */
const pattern = (n: number, k: number) => (n * 7 + k * 31 + 1) & 0xff;

test("concurrent streamed responses on many pooled connections each reach their own client intact", async (t) => {
  // Each response is its own byte pattern written in pieces, and the clients wait before reading, so
  // every connection's reads interleave with the others' while writes to the clients back up: bytes
  // of one response, or one piece, must never show up in another.
  const backend = await listen(
    t,
    http.createServer((req, res) => {
      const n = Number((req.url ?? "/0").slice(1));
      let k = 0;
      const more = () => {
        if (k === PIECES) {
          res.end();
          return;
        }
        res.write(Buffer.alloc(PIECE, pattern(n, k++)));
        setImmediate(more);
      };
      more();
    }),
  );
  const relay = await startRelay(t, backend);
  // Clients that read nothing until every response has started: the relay's writes to them back up
  // while it keeps reading, and all eight exchanges are under way at once.
  const CLIENTS = 8;
  const started: http.IncomingMessage[] = [];
  const slowGet = (n: number) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port: relay.port, path: `/${n}`, agent: false }, (res) => {
        res.pause();
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        started.push(res);
        if (started.length === CLIENTS) for (const r of started) r.resume();
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`response ${n}: none within 10 s`)));
      req.on("error", reject);
    });
  const results = await Promise.all(Array.from({ length: CLIENTS }, (_, n) => slowGet(n)));
  results.forEach((res, n) => {
    assert.equal(res.status, 200);
    assert.equal(res.body.length, PIECES * PIECE);
    for (let k = 0; k < PIECES; k++) {
      const got = res.body.subarray(k * PIECE, (k + 1) * PIECE);
      assert.ok(
        got.every((b) => b === pattern(n, k)),
        `response ${n}, piece ${k}: bytes of another piece or response`,
      );
    }
  });
  assert.equal(relay.pool.size, CLIENTS, "each exchange under way at once had a connection of its own");
});

test("a backend answering garbage, an oversized head or a cut body: 502 or a reset, and the relay serves on", async (t) => {
  const body = "x".repeat(100);
  const backend = await rawBackend(t, (socket, head) => {
    const p = path(head);
    if (p === "/garbage") socket.end("\x16\x03\x01\x00\xa5 not http at all\r\n\r\n");
    else if (p === "/huge") socket.end(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(80 * 1024)}\r\n\r\n`);
    else if (p === "/cut")
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    else ok(socket, "fine");
  });
  const relay = await startRelay(t, backend.port);
  for (const p of ["/garbage", "/huge"]) {
    const client = await RawClient.connect(t, relay.port);
    await client.write(`GET ${p} HTTP/1.1\r\nHost: backend\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.status, 502, p);
    assert.match(res.headers["trellis-proxy-error"] ?? "", /malformed response/, p);
  }
  // Cut after the head went out: the client's connection is reset, not answered twice.
  const cut = await RawClient.connect(t, relay.port);
  await cut.write("GET /cut HTTP/1.1\r\nHost: backend\r\n\r\n");
  await cut.whenClosed();
  assert.match(cut.all.toString("latin1"), /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(cut.all.length < 200, "only the head and the bytes that came");
  assert.deepEqual(
    relay.outcomes.map((o) => [o.status, o.failed]),
    [
      [502, true],
      [502, true],
      [200, true],
    ],
  );
  const after = await RawClient.connect(t, relay.port);
  await after.write("GET /ok HTTP/1.1\r\nHost: backend\r\n\r\n");
  assert.equal(text(await after.response()), "fine");
});

test("a client that goes away halfway through its request body: the relay drops the request and serves on", async (t) => {
  let received = 0;
  const backend = await listen(
    t,
    http.createServer((req, res) => {
      req.on("data", (c: Buffer) => {
        received += c.length;
      });
      req.on("end", () => res.end("done"));
      req.on("error", () => {});
    }),
  );
  const relay = await startRelay(t, backend);
  const client = await RawClient.connect(t, relay.port);
  await client.write(`POST /up HTTP/1.1\r\nHost: backend\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
  await client.write(Buffer.alloc(100 * 1024, "u"));
  await until("the backend to receive part of the body", () => received >= 50 * 1024);
  client.socket.destroy();
  await until("the request to be recorded", () => relay.outcomes.length === 1);
  assert.equal(relay.outcomes[0]?.failed, true);
  const after = await RawClient.connect(t, relay.port);
  await after.write("POST /next HTTP/1.1\r\nHost: backend\r\nContent-Length: 2\r\n\r\nok");
  assert.equal(text(await after.response()), "done");
});
