/**
 * The mux protocol that carries HTTP/1.1 between proxies, over real loopback sockets: streams both
 * ways and half-closed, per-stream flow control, one write per turn, resets, GOAWAY, and peers that
 * break the rules.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { type TestContext, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { UpstreamResponse } from "../../../../proxy/http/exchange.js";
import { Http1Pool } from "../../../../proxy/http/h1/client.js";
import {
  FIN,
  FRAME,
  INITIAL_WINDOW,
  MAX_STREAMS,
  MUX_READY,
  MuxClient,
  MuxConnection,
  type MuxProtocolError,
  type MuxResetError,
  type MuxStream,
} from "../../../../proxy/transport/mux/index.js";
import { readInto } from "../../../../proxy/transport/reads.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

interface Server {
  port: number;
  /** Streams the server accepted, in order. */
  streams: MuxStream[];
  /** The server's connections, in order. */
  conns: MuxConnection[];
  errors: MuxProtocolError[];
  /** Resolves with the next accepted stream. */
  next(): Promise<MuxStream>;
}

/** A mux server on loopback; `onStream` serves each stream (default: left to the test). */
async function muxServer(
  t: TestContext,
  onStream: (s: MuxStream) => void = () => {},
  options: { idleTimeoutMs?: number; openTimeoutMs?: number } = {},
): Promise<Server> {
  const streams: MuxStream[] = [];
  const conns: MuxConnection[] = [];
  const errors: MuxProtocolError[] = [];
  let waiting: ((s: MuxStream) => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new MuxConnection({
      role: "server",
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      openTimeoutMs: options.openTimeoutMs,
      onStream: (s) => {
        streams.push(s);
        onStream(s);
        waiting?.(s);
        waiting = undefined;
      },
      onProtocolError: (err) => errors.push(err),
    });
    conns.push(conn);
    conn.attach(socket);
    readInto(socket, conn.reads);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    for (const c of conns) c.socket?.destroy();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    streams,
    conns,
    errors,
    next: () => new Promise((resolve) => (waiting = resolve)),
  };
}

/** A mux client to `port`, with the sockets it dialled. */
function muxClient(t: TestContext, port: number, idleTimeoutMs = 60_000) {
  const sockets: net.Socket[] = [];
  const client = new MuxClient({
    dial: (reads) => {
      const socket = net.connect({ host: "127.0.0.1", port, onread: reads });
      sockets.push(socket);
      return socket;
    },
    readyEvent: "connect",
    target: `127.0.0.1:${port}`,
    connectTimeoutMs: 5000,
    idleTimeoutMs,
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  return { client, sockets };
}

/** Collects what a stream reads until its peer ends it. */
function collect(stream: MuxStream): Promise<Buffer> {
  const got: Buffer[] = [];
  readInto(stream, {
    buffer: Buffer.alloc(0),
    callback: (bytes, buffer) => {
      got.push(Buffer.from(buffer.subarray(0, bytes)));
      return true;
    },
  });
  return new Promise((resolve, reject) => {
    stream.once("end", () => resolve(Buffer.concat(got)));
    stream.once("error", reject);
  });
}

/** Serves a stream by answering, once the peer ends, the hash of all it sent. */
function hashBack(stream: MuxStream): void {
  void collect(stream).then(
    (b) => stream.end(sha(b)),
    () => {},
  );
}

/** Resolves when the socket closes, however (a reset is one way of being closed). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/** A raw frame. */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header[1] = flags;
  header.writeUInt16BE(payload.length, 2);
  header.writeUInt32BE(stream, 4);
  return Buffer.concat([header, payload]);
}

test("streams carry bytes both ways at once, each intact, and a half-closed stream still gets its answer", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  // More than a window each, so every stream runs on credit the receiver sends as it reads.
  const uploads = Array.from({ length: 24 }, (_, i) => randomBytes(INITIAL_WINDOW * 2 + i * 1000));
  const answers = uploads.map((upload) => {
    const stream = client.open();
    const answer = collect(stream);
    stream.end(upload);
    return answer;
  });
  const got = await Promise.all(answers);
  for (const [i, upload] of uploads.entries()) assert.equal(got[i]?.toString(), sha(upload), `stream ${i}`);
  assert.equal(sockets.length, 1, "every stream rode one connection");
  assert.equal(server.streams.length, uploads.length);
  assert.deepEqual(server.errors, []);
});

test("a lone exchange's write leaves at once; with others under way, a turn's writes leave in one", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  const lone = client.open();
  await once(lone, MUX_READY);
  const socket = sockets[0] as net.Socket;
  let writes = 0;
  const write = socket.write.bind(socket);
  socket.write = ((...args: Parameters<typeof write>) => {
    writes++;
    return write(...args);
  }) as typeof socket.write;

  // Nothing else under way: the request leaves once the code writing it is done, not a turn later.
  const loneAnswer = collect(lone);
  lone.end("alone");
  await new Promise((resolve) => process.nextTick(resolve));
  assert.equal(writes, 1, "the lone request went out before the event loop's next phase");
  assert.equal((await loneAnswer).toString(), sha(Buffer.from("alone")));

  // One exchange under way: requests written by separate callbacks in one turn leave together, a
  // batch of at most eight frames at a time (each request here is two: its bytes, then its end).
  const burst = async (n: number): Promise<number> => {
    await delay(20);
    writes = 0;
    const streams = Array.from({ length: n }, () => client.open());
    const answers = streams.map((s) => collect(s));
    for (const [i, s] of streams.entries()) setImmediate(() => s.end(`request ${i}`));
    const got = await Promise.all(answers);
    for (const [i, answer] of got.entries())
      assert.equal(answer.toString(), sha(Buffer.from(`request ${i}`)));
    return writes;
  };
  const waiting = client.open();
  waiting.write("waiting for an answer");
  assert.equal(await burst(3), 1, "three requests from three callbacks went out in one write");
  assert.equal(await burst(12), 3, "twelve requests (24 frames) went out in three writes of eight frames");
  waiting.end();
});

test("a reader that stops holds up only its own stream: its writer waits for credit, the others go on", async (t) => {
  const server = await muxServer(t);
  const { client } = muxClient(t, server.port);
  const slow = client.open();
  slow.write("x");
  const slowServer = await server.next();
  slowServer.pause();
  const slowRead = collect(slowServer);

  // The writer may send a window's worth; then write() says wait, and no drain comes while stalled.
  const big = randomBytes(INITIAL_WINDOW * 4);
  let drained = false;
  slow.on("drain", () => {
    drained = true;
  });
  assert.equal(slow.write(big), false, "write() says wait once past the window");
  slow.end();

  // Meanwhile another stream on the same connection is served.
  const other = client.open();
  const otherAnswer = collect(other);
  other.end("hello");
  const otherServer = await server.next();
  const otherRead = await collect(otherServer);
  assert.equal(otherRead.toString(), "hello");
  otherServer.end("world");
  assert.equal((await otherAnswer).toString(), "world");
  await delay(100);
  assert.equal(drained, false, "no drain while the reader is stalled");

  // The reader resumes: credit flows back and every byte arrives, in order.
  slowServer.resume();
  const all = await slowRead;
  assert.equal(sha(all), sha(Buffer.concat([Buffer.from("x"), big])));
  assert.equal(drained, true, "the writer was told to go on");
});

test("destroying a stream resets it at the peer; the connection's other streams carry on", async (t) => {
  const server = await muxServer(t);
  const { client } = muxClient(t, server.port);
  const a = client.open();
  a.write("a");
  const aServer = await server.next();
  const b = client.open();
  b.write("b");
  const bServer = await server.next();

  const closed = new Promise((resolve) => aServer.once("close", resolve));
  const failed = once(aServer, "error");
  a.destroy();
  const [err] = (await failed) as [MuxResetError];
  await closed;
  assert.match(err.message, /reset/);
  assert.equal(err.refused, false, "a cancelled stream may have been processed");
  assert.equal(aServer.destroyed, true);

  const bAnswer = collect(b);
  bServer.end("still here");
  assert.equal((await bAnswer).toString(), "still here");
});

test("GOAWAY: open streams finish, new ones go on a new connection, the old one closes", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  const before = client.open();
  before.write("before");
  await server.next();
  (server.conns[0] as MuxConnection).goAway();
  await delay(100);

  const after = client.open();
  const afterAnswer = collect(after);
  after.end("after");
  assert.equal((await afterAnswer).toString(), sha(Buffer.from("after")));
  assert.equal(sockets.length, 2, "the stream opened after GOAWAY dialled a new connection");

  const beforeAnswer = collect(before);
  before.end();
  assert.equal((await beforeAnswer).toString(), sha(Buffer.from("before")), "the open stream finished");
  await once(sockets[0] as net.Socket, "close");
});

test("a lost connection closes its streams with the error; the client dials anew", async (t) => {
  const server = await muxServer(t);
  const { client, sockets } = muxClient(t, server.port);
  const stream = client.open();
  stream.write("hi");
  await server.next();
  const failed = once(stream, "error");
  (server.conns[0] as MuxConnection).socket?.destroy();
  const [err] = (await failed) as [Error];
  assert.match(err.message, /closed|reset|ECONNRESET/);

  const again = client.open();
  again.write("again");
  const s = await server.next();
  assert.equal(sockets.length, 2);
  const got = collect(s);
  again.end();
  assert.equal((await got).toString(), "again");
});

test("a server refuses streams past its limit; the ones within it are served", async (t) => {
  const server = await muxServer(t);
  const { client } = muxClient(t, server.port);
  const streams = Array.from({ length: MAX_STREAMS + 1 }, () => client.open());
  for (const s of streams) s.write("x");
  const refused = streams.at(-1) as MuxStream;
  const [err] = (await once(refused, "error")) as [MuxResetError];
  assert.match(err.message, /refused/);
  assert.equal(err.refused, true, "a refused stream is known to be unprocessed");
  await delay(50);
  assert.equal(server.streams.length, MAX_STREAMS);
  assert.ok(streams.slice(0, -1).every((s) => !s.destroyed));
});

test("a connection without streams goes away after its idle timeout, and one that opens none after its open timeout", async (t) => {
  const server = await muxServer(t, hashBack, { idleTimeoutMs: 200 });
  const { client, sockets } = muxClient(t, server.port);
  const s = client.open();
  const answer = collect(s);
  s.end("x");
  await answer;
  await once(sockets[0] as net.Socket, "close");

  // A connection that never opens a stream: only the open timeout can close it before the test's own.
  const strict = await muxServer(t, hashBack, { idleTimeoutMs: 600_000, openTimeoutMs: 100 });
  const raw = net.connect(strict.port, "127.0.0.1");
  raw.on("error", () => {});
  raw.on("data", () => {});
  await closed(raw);
});

test("a peer that breaks the protocol is cut off with the reason; the server serves the next connection", async (t) => {
  const server = await muxServer(t, hashBack);
  const cases: Array<[string, Buffer, RegExp]> = [
    ["an unknown frame type", frame(9, 0, 1), /unknown frame type 9/],
    ["a frame over 16 KiB", Buffer.from([0, 0, 0xff, 0xff, 0, 0, 0, 1]), /frame of 65535 bytes/],
    ["DATA on stream 0", frame(FRAME.DATA, 0, 0, Buffer.from("x")), /stream 0/],
    ["DATA on an even stream", frame(FRAME.DATA, 0, 2, Buffer.from("x")), /clients open odd/],
    ["WINDOW of 3 bytes", frame(FRAME.WINDOW, 0, 1, Buffer.alloc(3)), /4 expected/],
    ["GOAWAY on a stream", frame(FRAME.GOAWAY, 0, 1, Buffer.alloc(4)), /frame type 3 on stream 1/],
    [
      "a window past 2^31",
      Buffer.concat([
        frame(FRAME.DATA, 0, 1, Buffer.from("x")),
        frame(FRAME.WINDOW, 0, 1, Buffer.from([0x7f, 0xff, 0xff, 0xff])),
      ]),
      /window past/,
    ],
    ["HTTP/1.1 instead of frames", Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), /unknown frame type 71/],
  ];
  for (const [name, bytes, reason] of cases) {
    const raw = net.connect(server.port, "127.0.0.1");
    raw.on("error", () => {});
    raw.on("data", () => {});
    const before = server.errors.length;
    raw.write(bytes);
    await closed(raw);
    assert.equal(server.errors.length, before + 1, name);
    assert.match((server.errors.at(-1) as Error).message, reason, name);
  }

  // A frame header a byte at a time is fine: frames may split anywhere.
  const raw = net.connect(server.port, "127.0.0.1");
  const got: Buffer[] = [];
  raw.on("data", (d: Buffer) => got.push(d));
  for (const byte of Buffer.concat([frame(FRAME.DATA, FIN, 1, Buffer.from("split"))])) {
    raw.write(Buffer.from([byte]));
    await delay(5);
  }
  await delay(200);
  const answer = Buffer.concat(got);
  assert.equal(answer.readUInt32BE(4), 1, "answered on stream 1");
  assert.equal(answer.subarray(8, 8 + 64).toString(), sha(Buffer.from("split")));
  raw.destroy();
});

test("a control frame split across reads is read whole while the connection writes its own meanwhile", async (t) => {
  const server = await muxServer(t);
  const raw = net.connect(server.port, "127.0.0.1");
  raw.on("data", () => {});
  t.after(() => raw.destroy());
  raw.write(
    Buffer.concat([frame(FRAME.DATA, 0, 1, Buffer.from("a")), frame(FRAME.DATA, 0, 3, Buffer.from("b"))]),
  );
  await delay(50);
  const [one, three] = server.streams as [MuxStream, MuxStream];
  assert.equal(one.write(Buffer.alloc(INITIAL_WINDOW + 1)), false, "stream 1 wrote past its window");
  const drained = once(one, "drain");
  // Credit of 65536 for stream 1, its payload cut in two; in between, the server resets stream 3.
  const credit = frame(FRAME.WINDOW, 0, 1, Buffer.from([0, 1, 0, 0]));
  raw.write(credit.subarray(0, 10));
  await delay(50);
  three.destroy();
  await delay(50);
  raw.write(credit.subarray(10));
  await drained;
  assert.deepEqual(server.errors, []);
});

test("a request on a stream the peer refused is sent again on a new connection: the pool retries it", async (t) => {
  let connections = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    const conn = new MuxConnection({
      role: "server",
      idleTimeoutMs: 60_000,
      onStream: (s) => {
        let got = "";
        readInto(s, {
          buffer: Buffer.alloc(0),
          callback: (bytes, buffer) => {
            got += buffer.subarray(0, bytes).toString("latin1");
            if (got.includes("\r\n\r\n")) s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            return true;
          },
        });
      },
    });
    conn.attach(socket);
    readInto(socket, conn.reads);
    // The first connection goes away before it reads a byte: its first stream is refused.
    if (connections === 1) conn.goAway();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const { client } = muxClient(t, (server.address() as net.AddressInfo).port);
  const pool = new Http1Pool({
    connect: (onread) => {
      const stream = client.open();
      stream.readInto(onread);
      return stream;
    },
    readyEvent: MUX_READY,
    target: "the mux server",
    connectTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
  });
  t.after(() => pool.close());
  const res = await new Promise<UpstreamResponse>((resolve, reject) =>
    pool.upstream()(
      { method: "GET", authority: "x", path: "/", headers: {}, body: undefined, http1: true },
      (err, r) => (err || !r ? reject(err) : resolve(r)),
    ),
  );
  assert.equal(res.status, 200);
  assert.equal(connections, 2, "sent again on a second connection");
});

test("a peer that sends past a stalled stream's window is cut off: what a stalled reader holds stays bounded", async (t) => {
  const server = await muxServer(t, (s) => s.pause());
  const raw = net.connect(server.port, "127.0.0.1");
  raw.on("error", () => {});
  raw.on("data", () => {});
  const frames = Array.from({ length: INITIAL_WINDOW / 16384 + 1 }, () =>
    frame(FRAME.DATA, 0, 1, Buffer.alloc(16384)),
  );
  const gone = closed(raw);
  raw.write(Buffer.concat(frames));
  await gone;
  assert.equal(server.errors.length, 1);
  assert.match((server.errors[0] as Error).message, /stream 1 sent past its window/);
});
