// HTTP/2 sessions on real sockets: a server session closes once idle, including on a client that
// trickles a HEADERS frame, but never under an open quiet stream; a stream the server refuses is
// sent again by the client side when it has no body.
import assert from "node:assert/strict";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { type TestContext, test } from "node:test";
import type { ProxyError } from "../../../proxy/errors.js";
import type { ProxyRequest, UpstreamResponse } from "../../../proxy/http/exchange.js";
import { idleSessionDeadline, SessionPool } from "../../../proxy/http/sessions.js";
import { http2Upstream } from "../../../proxy/http/upstream.js";
import { connectPlain } from "../../../proxy/transport/net.js";
import { until, within } from "../../support/wait.js";

/**
 * The idle deadline of the sessions under test. It also runs from a session's start to the client's
 * first frame, a moment no test can hold: it is long enough that a stall there cannot spend it.
 */
const IDLE_MS = 1000;
const { NGHTTP2_REFUSED_STREAM } = http2.constants;

async function server(
  t: TestContext,
  onStream: (stream: http2.ServerHttp2Stream, n: number) => void,
  idleMs = IDLE_MS,
) {
  const h2 = http2.createServer();
  const counts = new WeakMap<http2.Http2Session, number>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const timeouts = { count: 0 };
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
    idleSessionDeadline(s, idleMs);
    // Counted after the deadline's own listener has acted on the same quiet spell.
    s.on("timeout", () => timeouts.count++);
  });
  h2.on("stream", (stream) => {
    const n = (counts.get(stream.session as http2.Http2Session) ?? 0) + 1;
    counts.set(stream.session as http2.Http2Session, n);
    onStream(stream, n);
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sessions) s.destroy();
    return new Promise((resolve) => h2.close(resolve));
  });
  return { addr: `127.0.0.1:${(h2.address() as AddressInfo).port}`, sessions, timeouts };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a client trickling a HEADERS frame a byte at a time is closed once the session has been idle", async (t) => {
  const { addr } = await server(t, (stream) => stream.respond({ ":status": 200 }, { endStream: true }));
  const [host, port] = addr.split(":");
  const socket = net.connect(Number(port), host);
  socket.on("error", () => {});
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // SETTINGS, empty
  // A HEADERS frame announcing 20 bytes of header block, sent a byte every 100 ms (bounded: 29 bytes).
  // The bytes are no activity to the session, so its idle deadline, due after ten of them, fires
  // before the rest: timers run in the order they are due, however slow the machine.
  const frame = Buffer.concat([Buffer.from([0, 0, 20, 1, 5, 0, 0, 0, 1]), Buffer.alloc(20, 0x82)]);
  let sent = 0;
  for (const byte of frame) {
    if (socket.destroyed) break;
    socket.write(Buffer.from([byte]));
    sent++;
    await sleep(100);
  }
  await within("the server to close the connection", closed);
  assert.ok(
    sent < frame.length,
    `the connection was closed before the frame was complete (${sent} bytes sent)`,
  );
});

test("a session with an open stream stays however quiet, and closes with a GOAWAY once idle", async (t) => {
  let finish: () => void = () => {};
  const { addr, sessions, timeouts } = await server(t, (stream) => {
    stream.respond({ ":status": 200 });
    stream.write("first");
    finish = () => stream.end("last");
  });
  const session = http2.connect(`http://${addr}`);
  t.after(() => session.destroy());
  const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
  const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
  const req = session.request({ ":path": "/watch" }, { endStream: true });
  const chunks: string[] = [];
  req.on("data", (c: Buffer) => chunks.push(c.toString()));
  const ended = new Promise((resolve) => req.on("end", resolve));
  await until("the first bytes", () => chunks.length > 0);
  // The server session's idle deadline passes with the stream open and quiet: it stays.
  await until("the server session's idle deadline", () => timeouts.count > 0);
  const [serverSession] = sessions;
  assert.ok(serverSession && !serverSession.closed, "a quiet open stream keeps its session");
  assert.ok(!session.closed && !session.destroyed);
  assert.deepEqual(chunks, ["first"]);
  finish();
  await ended;
  assert.deepEqual(chunks, ["first", "last"]);
  await within("an idle session to be told to go away, then closed", Promise.all([goaway, closed]));
});

function request(body?: string): ProxyRequest {
  return {
    method: body ? "POST" : "GET",
    authority: "app.test:80",
    path: "/",
    headers: {},
    body: body === undefined ? undefined : Readable.from([Buffer.from(body)]),
    http1: false,
  };
}

function send(pool: SessionPool, key: string, req: ProxyRequest) {
  return new Promise<{ err?: ProxyError; res?: UpstreamResponse }>((resolve) => {
    http2Upstream(pool.source(key), key, () => ({}))(req, (err, res) => resolve({ err, res }));
  });
}

test("a stream the server refuses is sent again when it has no body, and fails when it has one", async (t) => {
  let streams = 0;
  // Each session refuses its first stream, as a server does for a stream past its GOAWAY.
  const { addr } = await server(
    t,
    (stream, n) => {
      streams++;
      // Closing with an error code emits it on this side too.
      stream.on("error", () => {});
      if (n === 1) stream.close(NGHTTP2_REFUSED_STREAM);
      else stream.respond({ ":status": 200 }, { endStream: true });
    },
    60_000,
  );
  const pool = new SessionPool((key) => connectPlain(key, 3000));
  t.after(() => pool.close());
  const get = await send(pool, addr, request());
  assert.equal(get.err, undefined, get.err?.message);
  assert.equal(get.res?.status, 200);
  assert.equal(streams, 2, "the refused request went out a second time");

  const other = new SessionPool((key) => connectPlain(key, 3000));
  t.after(() => other.close());
  const post = await send(other, addr, request("a body the first attempt consumed"));
  assert.equal(post.err?.code, "TRELLIS_E_PROXY_UPSTREAM_RESET");
  assert.equal(streams, 3, "a request with a body is not sent again");
});

test("a pooled client session closes itself once idle, never under an open stream, and the next request connects again", async (t) => {
  let finish: () => void = () => {};
  const { addr } = await server(
    t,
    (stream, n) => {
      stream.respond({ ":status": 200 });
      if (n === 1) {
        stream.write("watching");
        finish = () => stream.end();
      } else stream.end("done");
    },
    60_000,
  );
  // The server would wait a minute: closing is the client's doing.
  const pool = new SessionPool((key) => connectPlain(key, 3000), IDLE_MS / 3);
  t.after(() => pool.close());
  const watch = await send(pool, addr, request());
  assert.equal(watch.res?.status, 200);
  const first = await new Promise<http2.ClientHttp2Session>((resolve) =>
    pool.get(addr, (_err, s) => resolve(s as http2.ClientHttp2Session)),
  );
  // Counted after the pool's own listener has acted on the same quiet spell.
  let timeouts = 0;
  first.on("timeout", () => timeouts++);
  await until("the client session's idle deadline", () => timeouts > 0);
  assert.ok(!first.closed, "a session with a stream open stays");
  const closed = new Promise((resolve) => first.once("close", resolve));
  watch.res?.body.resume();
  finish();
  await within("the idle client session to close itself", closed);
  const next = await send(pool, addr, request());
  assert.equal(next.res?.status, 200, "the next request gets a new session");
  assert.equal(pool.size, 1);
});
