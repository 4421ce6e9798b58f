/**
 * Protocol detection on a fresh plaintext connection: reads the first bytes, decides HTTP/2 (the
 * client preface), HTTP/1.x (a method token and a space) or neither, and hands the connection with
 * the bytes already read to the protocol's server. A client that sends too little within the timeout is closed.
 */
import type { Socket } from "node:net";
import { Duplex } from "node:stream";

export type Protocol = "http2" | "http1" | "unknown" | "timeout" | "closed";

export interface Detected {
  protocol: Protocol;
  /** The bytes read so far; the protocol's server must see them first. */
  head: Buffer;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20} /;
/** Enough bytes to see a method token and its space, or the whole preface. */
const ENOUGH = H2_PREFACE.length;

function classify(buf: Buffer): Protocol | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n)))
    return buf.length >= H2_PREFACE.length ? "http2" : undefined;
  const head = buf.subarray(0, 24).toString("latin1");
  if (METHOD.test(head)) return "http1";
  if (buf.length >= ENOUGH || /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(head)) return "unknown";
  return undefined;
}

export function detect(socket: Socket, timeoutMs: number): Promise<Detected> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (protocol: Protocol) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onClose);
      socket.off("close", onClose);
      socket.pause();
      resolve({ protocol, head: buffered });
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = classify(buffered);
      if (result) finish(result);
    };
    // A client that ends its side before the bytes say what it speaks never will (the listener is
    // half-open, so its end alone would not close the socket).
    const onClose = () => finish("closed");
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onClose);
    socket.once("close", onClose);
  });
}

/**
 * Gives a connection detected as HTTP/2 to the HTTP/2 server, behind a stream that replays the bytes
 * already read.
 */
export function handOff(
  socket: Socket,
  detected: Detected,
  server: { emit(event: "connection", s: Duplex): boolean },
): void {
  server.emit("connection", new Replay(socket, detected.head));
}

/** A socket whose first bytes were already read: replays them, then passes everything through. */
class Replay extends Duplex {
  constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    super({ allowHalfOpen: false });
    if (head.length > 0) this.push(head);
    socket.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.once("end", () => this.push(null));
    // A failing client ends this stream without an error: the HTTP/2 machinery wrapping it may have
    // let go of its error listener already, and the socket's own error is logged where it was accepted.
    socket.on("error", () => this.destroy());
    socket.once("close", () => this.destroy());
    this.on("error", () => {});
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed) {
      this.destroy();
      cb();
      return;
    }
    this.socket.write(chunk, (err) => {
      if (err) this.destroy();
      cb();
    });
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(() => cb());
  }
  override _destroy(_err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(null);
  }
}
