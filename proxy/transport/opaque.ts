/**
 * The header that opens an opaque mTLS stream between proxies (ALPN `trellis.dev/opaque/v1`): four
 * magic bytes `TRL1` and the app port, big-endian. After it, bytes flow unchanged both ways.
 */
import type { Duplex } from "node:stream";

const MAGIC = Buffer.from("TRL1", "latin1");
export const OPAQUE_HEADER_BYTES = MAGIC.length + 2;

export function encodeOpaqueHeader(port: number): Buffer {
  const buf = Buffer.alloc(OPAQUE_HEADER_BYTES);
  MAGIC.copy(buf, 0);
  buf.writeUInt16BE(port, MAGIC.length);
  return buf;
}

/** Reads the header; resolves the port, or an error message when it is malformed, late or cut. */
export function readOpaqueHeader(socket: Duplex, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (result: number | string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < OPAQUE_HEADER_BYTES) return;
      if (!buffered.subarray(0, MAGIC.length).equals(MAGIC)) return finish("bad magic");
      const port = buffered.readUInt16BE(MAGIC.length);
      const rest = buffered.subarray(OPAQUE_HEADER_BYTES);
      finish(port === 0 ? "port 0" : port);
      if (rest.length > 0) socket.unshift(rest);
    };
    const onClose = () => finish("closed before the header");
    const timer = setTimeout(() => finish("no header in time"), timeoutMs);
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/**
 * Joins an accepted socket and a dialled one both ways; either side closing or failing ends both.
 * `reads` is what the dialled socket was opened to read into (see `SplicedReads`); without it, the
 * dialled socket is read as a stream too.
 */
export function splice(accepted: Duplex, dialled: Duplex, reads?: SplicedReads): void {
  forward(accepted, dialled);
  if (reads) reads.into(dialled, accepted);
  else forward(dialled, accepted);
  const end = () => {
    accepted.destroy();
    dialled.destroy();
  };
  accepted.once("error", end);
  dialled.once("error", end);
  accepted.once("close", () => dialled.end());
  dialled.once("close", () => accepted.end());
}

/** What `from.pipe(to)` does, with each piece compacted first. */
function forward(from: Duplex, to: Duplex): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(compact(chunk))) from.pause();
  });
  to.on("drain", () => from.resume());
  from.once("end", () => to.end());
  if (!from.readableFlowing) from.resume();
}

/**
 * A piece that fills less than half of its buffer, copied out. Node 24 hands each TLS read over in
 * a 64 KiB buffer of its own: a small piece queued behind backpressure would hold on to all of it.
 */
export function compact(chunk: Buffer): Buffer {
  return chunk.length * 2 <= chunk.buffer.byteLength ? Buffer.from(chunk) : chunk;
}

/** One TLS record's worth, as the HTTP/1.1 pool reads. */
const READ_BUFFER_BYTES = 16 * 1024;

/**
 * The read side of a dialled socket that `splice` will join: pass it as the socket's `onread`. Each
 * read lands in a buffer of the socket's own and is copied out at its size. Read as a stream
 * instead, every TLS read would get a new 64 KiB buffer on Node 24 (Node 20 sizes it to the read),
 * and a byte pipe allocating that much per read (with little else to collect young objects) drives
 * V8 to a full collection several times a second. Reading stops, until the splice, if bytes come
 * first.
 */
export class SplicedReads {
  readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private to: Duplex | undefined;
  private held: Buffer | undefined;

  readonly callback = (bytes: number, buffer: Buffer): boolean => {
    const piece = Buffer.from(buffer.subarray(0, bytes));
    if (this.to) return this.to.write(piece);
    this.held = this.held ? Buffer.concat([this.held, piece]) : piece;
    return false;
  };

  /** Forwards what `from` (the socket these reads are for) reads to `to`, with backpressure. */
  into(from: Duplex, to: Duplex): void {
    this.to = to;
    to.on("drain", () => from.resume());
    from.once("end", () => to.end());
    const held = this.held;
    this.held = undefined;
    if (!held || to.write(held)) from.resume();
  }
}
