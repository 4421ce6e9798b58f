/**
 * Writing a message body to a connection: what the body already holds goes out at once (in the same
 * write as the head, when the caller corked the socket), the rest as it arrives, chunk-framed when
 * asked, with backpressure both ways.
 */
import type { Socket } from "node:net";
import type { Readable } from "node:stream";

export interface BodyEnd {
  /** The body ended; anything after it (the last chunk, trailers) is the caller's to write. */
  ended(): void;
  /** The body closed before its end (its source failed or went away). */
  cut(): void;
}

export function pumpBody(body: Readable, socket: Socket, chunked: boolean, on: BodyEnd): void {
  let waitingDrain = false;
  let ended = false;
  const pump = () => {
    waitingDrain = false;
    let chunk: Buffer | null;
    socket.cork();
    // biome-ignore lint/suspicious/noAssignInExpressions: the usual read() loop
    while ((chunk = body.read() as Buffer | null) !== null) {
      let ok: boolean;
      if (chunked) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        ok = socket.write("\r\n");
      } else ok = socket.write(chunk);
      if (!ok) {
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
