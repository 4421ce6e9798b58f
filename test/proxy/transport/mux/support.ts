/**
 * Loopback mux servers and clients for the mux tests, and readers and raw frames to drive them: a
 * raw frame is written out here byte by byte rather than with the proxy's own encoder, so the tests
 * check the wire format itself.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import type { TestContext } from "node:test";
import type { UpstreamResponse } from "../../../../proxy/http/exchange.js";
import { Http1Pool } from "../../../../proxy/http/h1/client.js";
import {
  MUX_READY,
  MuxClient,
  MuxConnection,
  type MuxProtocolError,
  type MuxStream,
} from "../../../../proxy/transport/mux/index.js";
import { readInto } from "../../../../proxy/transport/reads.js";

export const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export interface Server {
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
export async function muxServer(
  t: TestContext,
  onStream: (s: MuxStream) => void = () => {},
  options: {
    idleTimeoutMs?: number;
    openTimeoutMs?: number;
    maxStreams?: number;
    onRefused?: () => void;
    onCutOff?: (reason: string) => void;
  } = {},
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
      maxStreams: options.maxStreams,
      onRefused: options.onRefused,
      onCutOff: options.onCutOff,
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
export function muxClient(t: TestContext, port: number, idleTimeoutMs = 60_000) {
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

/** The HTTP/1.1 pool over a mux client to `port`, as a client proxy sends to a peer's requests. */
export function muxPool(t: TestContext, port: number, target: string): Http1Pool {
  const { client } = muxClient(t, port);
  const pool = new Http1Pool({
    connect: (onread) => {
      const stream = client.open();
      stream.readInto(onread);
      return stream;
    },
    readyEvent: MUX_READY,
    target,
    connectTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
  });
  t.after(() => pool.close());
  return pool;
}

/** A bodyless request through `pool`: its response, or the pool's error. */
export function poolRequest(pool: Http1Pool, method = "GET", path = "/"): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) =>
    pool.upstream()({ method, authority: "x", path, headers: {}, body: undefined, http1: true }, (err, r) =>
      err || !r ? reject(err) : resolve(r),
    ),
  );
}

/** Collects what a stream reads until its peer ends it. */
export function collect(stream: MuxStream): Promise<Buffer> {
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
export function hashBack(stream: MuxStream): void {
  void collect(stream).then(
    (b) => stream.end(sha(b)),
    () => {},
  );
}

/** Resolves when the socket closes, however (a reset is one way of being closed). */
export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/** A raw frame. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header[1] = flags;
  header.writeUInt16BE(payload.length, 2);
  header.writeUInt32BE(stream, 4);
  return Buffer.concat([header, payload]);
}

/** A frame as a raw peer read it off the wire. */
export interface ReadFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** One connection to a raw peer: every frame the mux side sent, parsed here without the proxy's code. */
export interface RawConnection {
  socket: net.Socket;
  frames: ReadFrame[];
  /** DATA payload bytes read so far, on every stream. */
  dataBytes: number;
  /** Writes raw bytes (frames made with `frame`). */
  send(...frames: Buffer[]): void;
}

/**
 * A peer that speaks the mux wire format by hand, to play a hostile server: it reads and parses what
 * the client sends, and writes only what the test tells it to (no credit, no answers of its own).
 */
export async function rawServer(
  t: TestContext,
  /** Sees each frame as it is read, DATA payloads included (valid only during the call). */
  onFrame: (conn: RawConnection, f: ReadFrame) => void = () => {},
): Promise<{
  port: number;
  conns: RawConnection[];
  /** Resolves with the next connection accepted. */
  next(): Promise<RawConnection>;
}> {
  const conns: RawConnection[] = [];
  let claimed = 0;
  let waiting: (() => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {});
    const conn: RawConnection = {
      socket,
      frames: [],
      dataBytes: 0,
      send: (...frames) => {
        if (!socket.destroyed) socket.write(Buffer.concat(frames));
      },
    };
    let held: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      let at = 0;
      while (held.length - at >= 8) {
        const length = held.readUInt16BE(at + 2);
        if (held.length - at < 8 + length) break;
        const type = held[at] as number;
        if (type === 0) conn.dataBytes += length;
        const f: ReadFrame = {
          type,
          flags: held[at + 1] as number,
          stream: held.readUInt32BE(at + 4),
          payload: held.subarray(at + 8, at + 8 + length),
        };
        onFrame(conn, f);
        // DATA payloads are counted, not kept: a test may push megabytes through.
        conn.frames.push({ ...f, payload: type === 0 ? Buffer.alloc(0) : Buffer.from(f.payload) });
        at += 8 + length;
      }
      held = held.subarray(at);
    });
    conns.push(conn);
    waiting?.();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    for (const c of conns) c.socket.destroy();
    server.close();
  });
  const next = async (): Promise<RawConnection> => {
    while (claimed >= conns.length) await new Promise<void>((resolve) => (waiting = resolve));
    return conns[claimed++] as RawConnection;
  };
  return { port: (server.address() as net.AddressInfo).port, conns, next };
}

/** A control frame's u32 payload. */
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
