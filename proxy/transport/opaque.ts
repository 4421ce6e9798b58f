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

/** Joins two sockets both ways; either side closing or failing ends both. */
export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.once("error", end);
  b.once("error", end);
  a.once("close", () => b.end());
  b.once("close", () => a.end());
}
