// The HTTP/2 server guard on real sockets: SETTINGS and PING frames within their budgets are no cut
// off and one past is, even from a client that reads every acknowledgement; a client's resets within
// the budget are no cut off, and a stream opened past it is (GOAWAY ENHANCE_YOUR_CALM); streams the proxy resets itself are not the
// client's, and a client that resets its open streams as it goes away is not cut off; a response the
// client's window holds back is reset after the stall timeout and the client told to go away, while a
// response slow to come from upstream is not a stall.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { type TestContext, test } from "node:test";
import type { Http2Limits } from "../../../proxy/config.js";
import {
  type CutOffReason,
  guardSession,
  MAX_PING_FRAMES,
  MAX_SETTINGS_FRAMES,
  resetStream,
  watchStall,
} from "../../../proxy/http/abuse.js";
import { until, within } from "../../support/wait.js";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } =
  http2.constants;
const LIMITS: Http2Limits = { maxConcurrentStreams: 100, maxResets: 5, stallTimeoutMs: 200 };

/** A guarded HTTP/2 server; `onStream` answers (or holds) each stream. */
async function server(t: TestContext, onStream: (stream: http2.ServerHttp2Stream) => void) {
  const h2 = http2.createServer();
  const cutOffs: CutOffReason[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const streams: http2.ServerHttp2Stream[] = [];
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    guardSession(session, LIMITS, (reason) => cutOffs.push(reason));
  });
  h2.on("stream", (stream) => {
    stream.on("error", () => {});
    streams.push(stream);
    onStream(stream);
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sessions) s.destroy();
    return new Promise((resolve) => h2.close(resolve));
  });
  const client = (settings: http2.Settings = {}) => {
    const session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`, { settings });
    session.on("error", () => {});
    t.after(() => session.destroy());
    return session;
  };
  return { client, cutOffs, sessions, streams };
}

/** One request on `session`: its status, or the stream's end without one. */
function get(session: http2.ClientHttp2Session, path = "/"): Promise<number | string> {
  return new Promise((resolve) => {
    const req = session.request({ ":path": path }, { endStream: true });
    req.on("response", (h) => resolve(Number(h[":status"])));
    req.on("error", () => {});
    req.on("close", () => resolve(`closed (code ${req.rstCode})`));
    req.resume();
  });
}

/** Opens a stream, waits until the server holds it, and cancels it. */
async function openAndCancel(session: http2.ClientHttp2Session, streams: unknown[]): Promise<void> {
  const held = streams.length;
  const req = session.request({ ":path": "/hold" }, { endStream: true });
  req.on("error", () => {});
  await until("the server holds the stream", () => streams.length > held);
  req.close(NGHTTP2_CANCEL);
}

/** Holds every stream unanswered. */
const hold = () => {};

for (const [frame, max, send] of [
  [
    "SETTINGS",
    MAX_SETTINGS_FRAMES,
    (session: http2.ClientHttp2Session) =>
      new Promise<void>((resolve) => session.settings({ enablePush: false }, () => resolve())),
  ],
  [
    "PING",
    MAX_PING_FRAMES,
    (session: http2.ClientHttp2Session) => new Promise<void>((resolve) => session.ping(() => resolve())),
  ],
] as const) {
  test(`${frame} frames within their budget are no cut off, one past it is, from a client that reads every acknowledgement`, async (t) => {
    const { client, cutOffs } = await server(t, hold);
    const session = client();
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    // The session's own first SETTINGS counts for SETTINGS: one fewer. Each waits for its
    // acknowledgement, so the server has counted it.
    for (let i = frame === "SETTINGS" ? 1 : 0; i < max; i++) await send(session);
    assert.deepEqual(cutOffs, []);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
    void send(session);
    assert.equal(await within("the GOAWAY", goaway), NGHTTP2_ENHANCE_YOUR_CALM);
    assert.deepEqual(cutOffs, ["flood"]);
  });
}

test("resets within the budget are no cut off; a stream opened past it is, with a GOAWAY ENHANCE_YOUR_CALM", async (t) => {
  const { client, cutOffs, streams } = await server(t, hold);
  const session = client();
  for (let i = 0; i < LIMITS.maxResets; i++) await openAndCancel(session, streams);
  // The server took this stream after the resets, so it had counted them: within the budget.
  await openAndCancel(session, streams);
  assert.deepEqual(cutOffs, []);
  const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
  // The sixth reset is past the budget: the next stream is the attack.
  void get(session, "/next");
  assert.equal(await within("the GOAWAY", goaway), NGHTTP2_ENHANCE_YOUR_CALM);
  assert.deepEqual(cutOffs, ["rapid_reset"]);
});

test("streams the proxy resets are not the client's, and a client resetting its streams as it goes is not cut off", async (t) => {
  const { client, cutOffs, sessions, streams } = await server(t, hold);
  const session = client();
  // The proxy resets twice the budget of streams itself (an upstream that failed mid-response).
  for (let i = 0; i < 2 * LIMITS.maxResets; i++) {
    const held = streams.length;
    const answer = get(session, "/hold");
    await until("the server holds the stream", () => streams.length > held);
    resetStream(streams[held] as http2.ServerHttp2Stream, NGHTTP2_INTERNAL_ERROR);
    assert.equal(await answer, `closed (code ${NGHTTP2_INTERNAL_ERROR})`);
  }
  // Then the client goes away with twice the budget of streams open.
  const held = streams.length;
  for (let i = 0; i < 2 * LIMITS.maxResets; i++) void get(session, "/hold");
  await until("the server holds the streams", () => streams.length === held + 2 * LIMITS.maxResets);
  const [serverSession] = sessions;
  assert.ok(serverSession);
  const closed = new Promise((resolve) => serverSession.once("close", resolve));
  session.destroy();
  await within("the server session's close", closed);
  assert.deepEqual(cutOffs, []);
});

test("a response the client's window holds back is reset after the stall timeout; the client is sent away", async (t) => {
  const { client, cutOffs } = await server(t, (stream) => {
    stream.respond({ ":status": 200 });
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(16 * 1024, "x");
      })(),
    );
    body.pipe(stream);
    watchStall(stream, body);
  });
  const session = client({ initialWindowSize: 0 });
  const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
  const answer = get(session, "/big");
  assert.equal(await within("the GOAWAY", goaway), NGHTTP2_NO_ERROR);
  await answer;
  await until("the stream's end", () => cutOffs.length > 0);
  assert.deepEqual(cutOffs, ["stalled"]);
});

test("a response slow to come from upstream is no stall", async (t) => {
  const bodies: PassThrough[] = [];
  const { client, cutOffs } = await server(t, (stream) => {
    stream.respond({ ":status": 200 });
    const body = new PassThrough();
    bodies.push(body);
    body.pipe(stream);
    watchStall(stream, body);
  });
  const session = client();
  const chunks: Buffer[] = [];
  const done = new Promise<number | null>((resolve) => {
    const req = session.request({ ":path": "/slow" }, { endStream: true });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => {});
    req.on("close", () => resolve(req.rstCode));
  });
  await until("the server streams the response", () => bodies.length === 1);
  const [body] = bodies;
  assert.ok(body);
  // Quiet for several stall timeouts: nothing waits on the client, so there is nothing to stall. No
  // event marks a deadline that did not fire; this is the one wait for a length of time.
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, LIMITS.stallTimeoutMs));
    body.write("tick\n");
  }
  body.end();
  assert.equal(await within("the response's end", done), NGHTTP2_NO_ERROR);
  assert.equal(Buffer.concat(chunks).toString(), "tick\n".repeat(4));
  assert.deepEqual(cutOffs, []);
});
