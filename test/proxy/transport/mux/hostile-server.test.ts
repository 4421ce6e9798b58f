/**
 * The real mux client (MuxClient) against a hostile server: a raw peer on loopback that writes frames
 * by hand. Whatever it sends, the client throws nothing, fails only the streams the protocol says are
 * affected (one stream for a RESET, every stream on the connection for a protocol error) with an error
 * that names the cause, keeps the others working, and forgets every closed stream. The random
 * sequences run from a fixed seed (HOSTILE_SEED replays another), printed with any failure. What
 * the HTTP/1.1 pool makes of it is in hostile-server-pool.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  FIN,
  FRAME,
  INITIAL_WINDOW,
  MAX_FRAME_PAYLOAD,
  type MuxConnection,
  MuxProtocolError,
  MuxResetError,
  type MuxStream,
  RESET_CODE,
} from "../../../../proxy/transport/mux/index.js";
import { readInto } from "../../../../proxy/transport/reads.js";
import { until, within } from "../../../support/wait.js";
import { frame, muxClient, type RawConnection, rawServer, u32 } from "./support.js";

const MAX_WINDOW = 0x7fffffff;
/** Each stream's first DATA frame, which opens it. */
const REQUEST = "request";

/** How a client stream ended, once it closed. */
interface Fate {
  data: string;
  ended: boolean;
  error: Error | undefined;
}

/** Reads a client stream to its close: what it delivered, whether the peer ended it, its error. */
function fate(stream: MuxStream): Promise<Fate> {
  const out: Fate = { data: "", ended: false, error: undefined };
  readInto(stream, {
    buffer: Buffer.alloc(0),
    callback: (bytes, buffer) => {
      out.data += buffer.subarray(0, bytes).toString("latin1");
      return true;
    },
  });
  stream.on("end", () => {
    out.ended = true;
  });
  stream.on("error", (err: Error) => {
    out.error = err;
  });
  return new Promise((resolve) => stream.once("close", () => resolve(out)));
}

/** Opens `n` streams on the client, each announced to the server by a first DATA frame. */
async function openStreams(
  client: ReturnType<typeof muxClient>["client"],
  peer: () => Promise<RawConnection>,
  n: number,
) {
  const streams = Array.from({ length: n }, () => client.open());
  for (const s of streams) s.write(REQUEST);
  const conn = await peer();
  await until("the server to read every stream's first frame", () =>
    streams.every((s) => conn.frames.some((f) => f.type === FRAME.DATA && f.stream === s.id)),
  );
  return { streams, conn, mux: (streams[0] as MuxStream).conn as MuxConnection };
}

/** A stream on a fresh connection still works end to end: the raw server answers it by hand. */
async function stillServes(
  client: ReturnType<typeof muxClient>["client"],
  peer: () => Promise<RawConnection>,
  server: { conns: RawConnection[] },
): Promise<void> {
  const before = server.conns.length;
  const s = client.open();
  const done = fate(s);
  s.end("again");
  const conn = server.conns.length > before ? (server.conns.at(-1) as RawConnection) : await peer();
  conn.send(frame(FRAME.DATA, FIN, s.id, Buffer.from("answer")));
  const got = await within("the new stream's answer", done);
  assert.deepEqual(got, { data: "answer", ended: true, error: undefined }, "a new stream is served");
}

test("a WINDOW of 0 is a protocol error: every stream on the connection fails with it, the next one dials anew", async (t) => {
  const server = await rawServer(t);
  const { client } = muxClient(t, server.port);
  const { streams, conn, mux } = await openStreams(client, server.next, 2);
  const fates = streams.map(fate);
  conn.send(frame(FRAME.WINDOW, 0, streams[0]?.id as number, u32(0)));
  for (const f of await within("every stream to close", Promise.all(fates))) {
    assert.ok(f.error instanceof MuxProtocolError, `${f.error}`);
    assert.match(f.error.message, /WINDOW of 0 on stream 1/);
  }
  assert.equal(mux.streams.size, 0, "the lost connection forgot its streams");
  assert.equal(mux.closed, true);
  await stillServes(client, server.next, server);
});

test("credit that takes a window past 2^31 - 1 is a protocol error, at once or summed over frames", async (t) => {
  // What the window may still grow by, once the first DATA frame spent part of it.
  const room = MAX_WINDOW - (INITIAL_WINDOW - REQUEST.length);
  for (const credits of [[room + 1], [room, 1], [MAX_WINDOW]]) {
    const server = await rawServer(t);
    const { client } = muxClient(t, server.port);
    const { streams, conn, mux } = await openStreams(client, server.next, 2);
    const fates = streams.map(fate);
    const id = streams[1]?.id as number;
    conn.send(...credits.map((n) => frame(FRAME.WINDOW, 0, id, u32(n))));
    for (const f of await within("every stream to close", Promise.all(fates))) {
      assert.ok(f.error instanceof MuxProtocolError, `credits ${credits}: ${f.error}`);
      assert.match(f.error.message, new RegExp(`stream ${id} given a window past 2\\^31 - 1`));
    }
    assert.equal(mux.streams.size, 0);
    await stillServes(client, server.next, server);
  }
});

test("credit up to exactly 2^31 - 1 is taken, and a stream stalled on its window goes on with it", async (t) => {
  const server = await rawServer(t);
  const { client } = muxClient(t, server.port);
  const { streams, conn } = await openStreams(client, server.next, 1);
  const s = streams[0] as MuxStream;
  const sent = conn.dataBytes;
  // The window is spent; the rest waits for credit.
  assert.equal(s.write(Buffer.alloc(INITIAL_WINDOW)), false);
  await until(
    "the window's bytes to arrive",
    () => conn.dataBytes === sent + INITIAL_WINDOW - REQUEST.length,
  );
  // Every held byte goes with the credit, and the window is then just short of its limit.
  conn.send(frame(FRAME.WINDOW, 0, s.id, u32(MAX_WINDOW)));
  await until("the held bytes to follow the credit", () => conn.dataBytes === sent + INITIAL_WINDOW);
  const done = fate(s);
  s.end();
  conn.send(frame(FRAME.DATA, FIN, s.id));
  assert.deepEqual(await within("the stream to close", done), { data: "", ended: true, error: undefined });
});

test("DATA after a stream's FIN is dropped: the stream delivered what came before, the others go on", async (t) => {
  const server = await rawServer(t);
  const { client } = muxClient(t, server.port);
  const { streams, conn, mux } = await openStreams(client, server.next, 2);
  const [a, b] = streams as [MuxStream, MuxStream];
  const fates = streams.map(fate);
  conn.send(
    frame(FRAME.DATA, FIN, a.id, Buffer.from("answer")),
    frame(FRAME.DATA, 0, a.id, Buffer.from("after the end")),
    frame(FRAME.DATA, FIN, a.id, Buffer.alloc(MAX_FRAME_PAYLOAD)),
    frame(FRAME.WINDOW, 0, a.id, u32(100)),
    frame(FRAME.RESET, 0, a.id, u32(RESET_CODE.CANCEL)),
  );
  assert.deepEqual(await within("the stream to close", fates[0] as Promise<Fate>), {
    data: "answer",
    ended: true,
    error: undefined,
  });
  b.end();
  conn.send(frame(FRAME.DATA, FIN, b.id, Buffer.from("b's answer")));
  assert.deepEqual(await within("the stream to close", fates[1] as Promise<Fate>), {
    data: "b's answer",
    ended: true,
    error: undefined,
  });
  assert.equal(mux.closed, false, "nothing there broke the protocol");
  assert.equal(mux.streams.size, 0);
});

test("DATA on a stream the client never opened closes the connection, naming the stream", async (t) => {
  for (const id of [2, 99, MAX_WINDOW]) {
    const server = await rawServer(t);
    const { client } = muxClient(t, server.port);
    const { streams, conn, mux } = await openStreams(client, server.next, 2);
    const fates = streams.map(fate);
    conn.send(frame(FRAME.DATA, 0, id, Buffer.from("unasked")));
    for (const f of await within("every stream to close", Promise.all(fates))) {
      assert.ok(f.error instanceof MuxProtocolError, `stream ${id}: ${f.error}`);
      assert.match(f.error.message, new RegExp(`DATA on stream ${id}, which was never opened`));
    }
    assert.equal(mux.streams.size, 0);
    await stillServes(client, server.next, server);
  }
});

test("WINDOW and RESET for streams the client never opened change nothing", async (t) => {
  const server = await rawServer(t);
  const { client } = muxClient(t, server.port);
  const { streams, conn, mux } = await openStreams(client, server.next, 2);
  const fates = streams.map(fate);
  conn.send(
    frame(FRAME.WINDOW, 0, 2, u32(1)),
    frame(FRAME.WINDOW, 0, 99, u32(MAX_WINDOW)),
    frame(FRAME.RESET, 0, 4, u32(RESET_CODE.CANCEL)),
    frame(FRAME.RESET, 0, 101, u32(RESET_CODE.REFUSED)),
  );
  for (const s of streams) s.end();
  conn.send(...streams.map((s) => frame(FRAME.DATA, FIN, s.id, Buffer.from(`to ${s.id}`))));
  const got = await within("every stream to close", Promise.all(fates));
  assert.deepEqual(
    got.map((f) => [f.data, f.ended, f.error]),
    streams.map((s) => [`to ${s.id}`, true, undefined]),
  );
  assert.equal(mux.closed, false);
  assert.equal(mux.streams.size, 0);
});

test("a RESET in the middle of a body fails that stream alone, with the code; the other stream is served", async (t) => {
  const server = await rawServer(t);
  const { client } = muxClient(t, server.port);
  const { streams, conn, mux } = await openStreams(client, server.next, 2);
  const [a, b] = streams as [MuxStream, MuxStream];
  const fates = streams.map(fate);
  conn.send(
    frame(FRAME.DATA, 0, a.id, Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf a bo")),
    frame(FRAME.RESET, 0, a.id, u32(7)),
  );
  const gotA = await within("the stream to close", fates[0] as Promise<Fate>);
  assert.equal(gotA.data, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf a bo");
  assert.equal(gotA.ended, false);
  assert.ok(gotA.error instanceof MuxResetError);
  assert.equal(gotA.error.message, "the peer reset the stream (code 7)");
  assert.equal(gotA.error.refused, false, "a stream reset mid-body is not safe to send again");
  // Writing to the reset stream is refused quietly, as on a destroyed socket.
  assert.equal(a.write("more"), false);
  a.end();
  a.destroy();
  b.end();
  conn.send(frame(FRAME.DATA, FIN, b.id, Buffer.from("whole")));
  assert.deepEqual(await within("the stream to close", fates[1] as Promise<Fate>), {
    data: "whole",
    ended: true,
    error: undefined,
  });
  assert.equal(mux.closed, false);
  assert.equal(mux.streams.size, 0);
  assert.ok(
    !conn.frames.some((f) => f.type === FRAME.RESET && f.stream === a.id),
    "a stream the peer reset is not reset back",
  );
});

const SEED = Number(process.env.HOSTILE_SEED ?? 20261203);
/** The streams each run opens before the server's frames arrive. */
const OPENED = [1, 3, 5];

/** Frames a hostile server may send: mostly about the client's streams, some about others. */
const hostileFrame = (() => {
  const id = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...OPENED) },
    { weight: 2, arbitrary: fc.constantFrom(0, 2, 7, 99, MAX_WINDOW, 0x80000001) },
  );
  const body = fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(MAX_FRAME_PAYLOAD, 0x62)) },
  );
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constant(FRAME.DATA), fc.nat({ max: 3 }), id, body) },
      {
        weight: 2,
        arbitrary: fc.tuple(
          fc.constant(FRAME.WINDOW),
          fc.constant(0),
          id,
          fc.constantFrom(0, 1, 32_768, MAX_WINDOW - INITIAL_WINDOW, MAX_WINDOW).map(u32),
        ),
      },
      {
        weight: 2,
        arbitrary: fc.tuple(fc.constant(FRAME.RESET), fc.constant(0), id, fc.nat({ max: 2 }).map(u32)),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.constant(FRAME.GOAWAY),
          fc.constant(0),
          fc.constantFrom(0, 0, 1),
          fc.nat({ max: 6 }).map(u32),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.nat({ max: 255 }),
          fc.nat({ max: 255 }),
          id,
          fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
        ),
      },
    )
    .map(([type, flags, stream, payload]) => frame(type, flags, stream, payload));
})();

test(`random frame sequences from a hostile server (seed ${SEED}): no throw, only protocol-sanctioned failures, no stream left behind`, async (t) => {
  t.diagnostic(`seed ${SEED} (replay: HOSTILE_SEED=${SEED})`);
  const server = await rawServer(t);
  const acceptable = (err: Error | undefined) =>
    err === undefined ||
    err instanceof MuxResetError ||
    err instanceof MuxProtocolError ||
    /connection to the peer closed|ECONNRESET/.test(err.message);
  await fc.assert(
    fc.asyncProperty(
      fc.array(hostileFrame, { maxLength: 24 }),
      fc.nat({ max: 4 }),
      async (frames, pieces) => {
        const { client, sockets } = muxClient(t, server.port);
        const { streams, conn, mux } = await openStreams(client, server.next, OPENED.length);
        assert.deepEqual(
          streams.map((s) => s.id),
          OPENED,
        );
        const fates = streams.map(fate);
        const wire = Buffer.concat(frames);
        // In a few writes, so frames arrive split across reads.
        const step = Math.ceil(wire.length / (pieces + 1)) || 1;
        for (let at = 0; at < wire.length; at += step) conn.send(wire.subarray(at, at + step));
        const socket = sockets[0];
        assert.ok(socket);
        await until(
          "the client to read every frame, or to close for a broken rule",
          () => mux.closed || socket.bytesRead >= wire.length,
        );
        // Streams still open both ways take an answer: what the server did to the others left them be.
        const open = mux.closed ? [] : streams.filter((s) => !s.destroyed);
        conn.send(...open.map((s) => frame(FRAME.DATA, FIN, s.id, Buffer.from("tail"))));
        for (const s of open) {
          const f = await within(`stream ${s.id} to close`, fates[streams.indexOf(s)] as Promise<Fate>);
          assert.ok(
            f.error === undefined && f.ended && f.data.endsWith("tail"),
            `stream ${s.id}: ${JSON.stringify(f)}`,
          );
        }
        conn.socket.end();
        const all = await within("every stream to close", Promise.all(fates));
        for (const [i, f] of all.entries())
          assert.ok(acceptable(f.error), `stream ${streams[i]?.id}: ${f.error?.stack}`);
        await until("the connection to close", () => mux.closed);
        assert.equal(mux.streams.size, 0, "every stream was forgotten");
        assert.ok(streams.every((s) => s.destroyed));
      },
    ),
    { seed: SEED, numRuns: 60, endOnFailure: true },
  );
});
