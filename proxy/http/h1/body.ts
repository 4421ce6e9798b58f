/**
 * Writing a message body to a connection: what the body already holds goes out at once (in the same
 * write as the head, when the caller corked the socket), the rest as it arrives, chunk-framed when
 * asked, with backpressure both ways.
 */

import { Readable } from "node:stream";
import type { Headers } from "../headers.js";
import type { Conn } from "./conn.js";
import { headerLines } from "./parser.js";

/** Writes one piece of a body, in a chunk of its own when `chunked`; false when the socket is full. */
export function writeChunk(socket: Conn, chunk: Buffer, chunked: boolean): boolean {
  if (!chunked) return socket.write(chunk);
  if (chunk.length === 0) return true; // an empty chunk would end the body
  socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
  socket.write(chunk);
  return socket.write("\r\n", "latin1");
}

/** The last chunk of a chunked body, with the trailers if any. */
export function lastChunk(trailers: Headers | undefined): string {
  return trailers ? `0\r\n${headerLines(trailers)}\r\n` : "0\r\n\r\n";
}

export function byteLength(chunks: Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** A message head (latin1, as HTTP/1.x heads are) and a whole body in one buffer. */
export function withBody(head: string, chunks: Buffer[]): Buffer {
  const out = Buffer.allocUnsafe(head.length + byteLength(chunks));
  let offset = out.write(head, 0, "latin1");
  for (const c of chunks) offset += c.copy(out, offset);
  return out;
}

export interface BodyEnd {
  /** The body ended; anything after it (the last chunk, trailers) is the caller's to write. */
  ended(): void;
  /** The body closed before its end (its source failed or went away). */
  cut(): void;
}

export function pumpBody(body: Readable, socket: Conn, chunked: boolean, on: BodyEnd): void {
  let waitingDrain = false;
  let ended = false;
  const pump = () => {
    waitingDrain = false;
    let chunk: Buffer | null;
    socket.cork();
    // biome-ignore lint/suspicious/noAssignInExpressions: the usual read() loop
    while ((chunk = body.read() as Buffer | null) !== null) {
      if (!writeChunk(socket, chunk, chunked)) {
        waitingDrain = true;
        socket.once("drain", pump);
        break;
      }
    }
    socket.uncork();
  };
  const onReadable = () => {
    if (!waitingDrain) pump();
  };
  body.on("readable", onReadable);
  body.once("end", () => {
    ended = true;
    body.off("readable", onReadable);
    on.ended();
  });
  body.once("close", () => {
    if (ended) return;
    body.off("readable", onReadable);
    socket.off("drain", pump);
    on.cut();
  });
  pump();
}

/**
 * A body read off a connection (a request from a client, a response from an endpoint): the parser
 * pushes its pieces, and a reader wanting more resumes the connection. A peer that cuts the body short
 * destroys it with an error; readers act on the stream closing before its end, and one not listening
 * for 'error' must not take the process down (node:http's IncomingMessage makes the same exception).
 */
export class SocketBody extends Readable {
  constructor(private readonly socket: Conn) {
    super();
    this.on("error", () => {});
  }
  override _read(): void {
    this.socket.resume();
  }
}
