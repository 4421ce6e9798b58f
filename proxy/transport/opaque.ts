/**
 * The header that opens an opaque mTLS stream between proxies (ALPN `trellis.dev/opaque/v1`): four
 * magic bytes `TRL1` and the app port, big-endian. After it, bytes flow unchanged both ways.
 */
import type { Duplex } from "node:stream";
import type { SplicedReads } from "./reads.js";

const MAGIC = Buffer.from("TRL1", "latin1");
export const OPAQUE_HEADER_BYTES = MAGIC.length + 2;

export function encodeOpaqueHeader(port: number): Buffer {
  const buf = Buffer.alloc(OPAQUE_HEADER_BYTES);
  MAGIC.copy(buf, 0);
  buf.writeUInt16BE(port, MAGIC.length);
  return buf;
}

/**
 * Reads the header off a socket reading into `reads`; resolves the port, or an error message when
 * it is malformed, late or cut. Bytes after the header stay held in `reads` for the splice, and
 * reading stops until then.
 */
export function readOpaqueHeader(
  socket: Duplex,
  reads: SplicedReads,
  timeoutMs: number,
): Promise<number | string> {
  return new Promise((resolve) => {
    const finish = (result: number | string) => {
      clearTimeout(timer);
      socket.off("close", onClose);
      reads.hold();
      resolve(result);
    };
    reads.sink = (bytes, buffer) => {
      const got = reads.keep(buffer.subarray(0, bytes));
      if (got.length < OPAQUE_HEADER_BYTES) return true;
      if (!got.subarray(0, MAGIC.length).equals(MAGIC)) finish("bad magic");
      else {
        const port = got.readUInt16BE(MAGIC.length);
        reads.release(OPAQUE_HEADER_BYTES);
        finish(port === 0 ? "port 0" : port);
      }
      return false;
    };
    const onClose = () => finish("closed before the header");
    const timer = setTimeout(() => finish("no header in time"), timeoutMs);
    socket.once("close", onClose);
    socket.resume();
  });
}

/** How each side of a splice is read: into a buffer of its own (`SplicedReads`), or as a stream. */
export interface SpliceReads {
  accepted?: SplicedReads;
  dialled?: SplicedReads;
}

/**
 * Joins an accepted socket and a dialled one both ways; either side closing or failing ends both.
 * A side that reads into a buffer of its own (see `SplicedReads`) names it in `reads`; the other is
 * read as a stream. Both are half-open: an end (FIN) read on one side is passed on as an end, and
 * the other direction carries on until it ends too, whichever side ends first.
 */
export function splice(accepted: Duplex, dialled: Duplex, reads: SpliceReads = {}): void {
  // Read when an end arrives (not when the socket is made), so it holds for a socket made without it.
  accepted.allowHalfOpen = true;
  dialled.allowHalfOpen = true;
  if (reads.accepted) reads.accepted.into(accepted, dialled);
  else forward(accepted, dialled);
  if (reads.dialled) reads.dialled.into(dialled, accepted);
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
