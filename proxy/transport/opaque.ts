/**
 * The header that opens an opaque mTLS stream between proxies (ALPN `trellis.dev/opaque/v1`): four
 * magic bytes `TRL1` and the app port, big-endian. After it, bytes flow unchanged both ways.
 */
import type { Duplex } from "node:stream";
import { readInto, SplicedReads } from "./reads.js";

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

/** The sides of a splice already reading into a buffer of their own, with what they hold. */
export interface SpliceReads {
  accepted?: SplicedReads;
  dialled?: SplicedReads;
}

/**
 * Joins an accepted socket and a dialled one both ways; either side closing or failing ends both.
 * A side already reading into a buffer of its own names it in `reads` (what it holds goes first);
 * the other is set to read into one here. Both are half-open: an end (FIN) read on one side is
 * passed on as an end, and the other direction carries on until it ends too, whichever side ends
 * first.
 */
export function splice(accepted: Duplex, dialled: Duplex, reads: SpliceReads = {}): void {
  // Read when an end arrives (not when the socket is made), so it holds for a socket made without it.
  accepted.allowHalfOpen = true;
  dialled.allowHalfOpen = true;
  (reads.accepted ?? readingInto(accepted)).into(accepted, dialled);
  (reads.dialled ?? readingInto(dialled)).into(dialled, accepted);
  const end = () => {
    accepted.destroy();
    dialled.destroy();
  };
  accepted.once("error", end);
  dialled.once("error", end);
  accepted.once("close", () => dialled.end());
  dialled.once("close", () => accepted.end());
}

function readingInto(socket: Duplex): SplicedReads {
  const reads = new SplicedReads();
  readInto(socket, reads);
  return reads;
}
