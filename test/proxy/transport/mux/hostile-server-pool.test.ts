/**
 * The HTTP/1.1 pool over the real mux client against a hostile server (a raw peer on loopback writing
 * frames by hand): a response cut by RESET fails only its own body, and a request is sent again only
 * when the server cannot have read it, whatever a later RESET REFUSED or GOAWAY claims.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { UpstreamResponse } from "../../../../proxy/http/exchange.js";
import { FRAME, RESET_CODE } from "../../../../proxy/transport/mux/index.js";
import { within } from "../../../support/wait.js";
import { frame, muxPool, poolRequest, type RawConnection, rawServer, u32 } from "./support.js";

test("a response reset in the middle of its body through the HTTP/1.1 pool: that body fails, the pool's next request is answered", async (t) => {
  let requests = 0;
  const head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
  const server = await rawServer(t, (conn, f) => {
    if (f.type !== FRAME.DATA || !f.payload.includes("\r\n\r\n")) return;
    // The first request gets a head and part of its body, then the stream is reset; the next ones
    // get whole answers.
    if (++requests === 1)
      conn.send(
        frame(FRAME.DATA, 0, f.stream, Buffer.from(`${head}half`)),
        frame(FRAME.RESET, 0, f.stream, u32(RESET_CODE.CANCEL)),
      );
    else
      conn.send(
        frame(FRAME.DATA, 0, f.stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")),
      );
  });
  const pool = muxPool(t, server.port, "the hostile server");
  // The body is read from the moment the head is handed over, as the downstream side reads it.
  const body = (res: UpstreamResponse) =>
    new Promise<string>((resolve, reject) => {
      let got = "";
      res.body.on("data", (c: Buffer) => {
        got += c.toString();
      });
      res.body.on("end", () => resolve(got));
      res.body.on("error", reject);
      res.body.on("close", () => reject(new Error(`the body closed after ${JSON.stringify(got)}`)));
    });
  // Not through poolRequest: a promise's then() would hand the response over a tick too late.
  const get = (path: string) =>
    new Promise<{ status: number; body: Promise<string> }>((resolve, reject) =>
      pool.upstream()(
        { method: "GET", authority: "x", path, headers: {}, body: undefined, http1: true },
        (err, r) => (err || !r ? reject(err) : resolve({ status: r.status, body: body(r) })),
      ),
    );

  const first = await within("the first response's head", get("/first"));
  assert.equal(first.status, 200);
  await assert.rejects(within("the first body to fail", first.body), /the peer reset the stream \(code 0\)/);
  const second = await within("the second response", get("/second"));
  assert.equal(second.status, 200);
  assert.equal(await within("the second body", second.body), "ok");
});

/**
 * Requests the hostile server reads, through an HTTP/1.1 pool over the mux client; `answer` is
 * what the server does with the n-th request's stream (1-based), by hand.
 */
async function poolOverHostileServer(
  t: TestContext,
  answer: (conn: RawConnection, stream: number, n: number) => void,
) {
  let requests = 0;
  const server = await rawServer(t, (conn, f) => {
    if (f.type === FRAME.DATA && f.payload.includes("\r\n\r\n")) answer(conn, f.stream, ++requests);
  });
  const pool = muxPool(t, server.port, "the hostile server");
  const send = (method: string) =>
    poolRequest(pool, method).then(
      (r): { status: number } | Error => ({ status: r.status }),
      (err: Error) => err,
    );
  return { send, requests: () => requests };
}

test("a stream the server answered on is not refused, whatever its RESET says: the request is not sent again", async (t) => {
  const { send, requests } = await poolOverHostileServer(t, (conn, stream, n) => {
    if (n === 1)
      conn.send(
        frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\n")),
        frame(FRAME.RESET, 0, stream, u32(RESET_CODE.REFUSED)),
      );
    else conn.send(frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")));
  });
  const got = await within("the answer", send("POST"));
  assert.ok(got instanceof Error, `the request was sent again and answered ${JSON.stringify(got)}`);
  assert.match(got.message, /refused the stream after part of its answer: a reset/);
  assert.equal(requests(), 1, "the server read the request once");
});

test("a stream the server answered on is not refused by a GOAWAY that names a lower id: the request is not sent again", async (t) => {
  const { send, requests } = await poolOverHostileServer(t, (conn, stream, n) => {
    if (n === 1)
      conn.send(
        frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\n")),
        frame(FRAME.GOAWAY, 0, 0, u32(0)),
      );
    else conn.send(frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")));
  });
  const got = await within("the answer", send("POST"));
  assert.ok(got instanceof Error, `the request was sent again and answered ${JSON.stringify(got)}`);
  assert.equal(requests(), 1, "the server read the request once");
});

test("a stream refused before the server sent anything on it is still sent again", async (t) => {
  const { send, requests } = await poolOverHostileServer(t, (conn, stream, n) => {
    if (n === 1) conn.send(frame(FRAME.RESET, 0, stream, u32(RESET_CODE.REFUSED)));
    else conn.send(frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")));
  });
  assert.deepEqual(await within("the answer", send("GET")), { status: 200 });
  assert.equal(requests(), 2);
});

test("a reused stream reset after part of a response head came is not sent again", async (t) => {
  const { send, requests } = await poolOverHostileServer(t, (conn, stream, n) => {
    if (n === 2)
      conn.send(
        frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\n")),
        frame(FRAME.RESET, 0, stream, u32(RESET_CODE.CANCEL)),
      );
    else conn.send(frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")));
  });
  assert.deepEqual(await within("the first answer", send("POST")), { status: 200 });
  const got = await within("the second answer", send("POST"));
  assert.ok(got instanceof Error, `the request was sent again and answered ${JSON.stringify(got)}`);
  assert.equal(requests(), 2, "the server read each request once");
});

test("a reused stream refused before any byte of its second answer: that request is sent again and answered", async (t) => {
  // A pod whose app stopped: its proxy answered the first request on the stream, then refuses the
  // next one, which its app never saw.
  const { send, requests } = await poolOverHostileServer(t, (conn, stream, n) => {
    if (n === 2) conn.send(frame(FRAME.RESET, 0, stream, u32(RESET_CODE.REFUSED)));
    else conn.send(frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")));
  });
  assert.deepEqual(await within("the first answer", send("GET")), { status: 200 });
  assert.deepEqual(await within("the second answer", send("GET")), { status: 200 });
  assert.equal(requests(), 3, "the refused request was read once more, on a new stream");
});

test("an idle pooled stream whose connection got GOAWAY takes no new request: it goes on a new connection", async (t) => {
  // A server draining for shutdown: it answers the first request, then says it takes no new streams.
  const seen: RawConnection[] = [];
  const { send } = await poolOverHostileServer(t, (conn, stream, n) => {
    seen.push(conn);
    const answer = frame(FRAME.DATA, 0, stream, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    if (n === 1) conn.send(answer, frame(FRAME.GOAWAY, 0, 0, u32(stream)));
    else conn.send(answer);
  });
  assert.deepEqual(await within("the first answer", send("GET")), { status: 200 });
  // The stream is back in the pool, idle, when the GOAWAY has been read.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(await within("the second answer", send("GET")), { status: 200 });
  assert.equal(seen.length, 2);
  assert.notEqual(seen[1], seen[0], "the second request went on a new connection");
});
