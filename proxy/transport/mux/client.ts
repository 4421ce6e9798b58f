/**
 * The client side of the mux towards one peer proxy: it dials the peer when a stream is first
 * wanted, carries every stream on that one connection, and dials anew once it is going away or gone.
 */
import type { Socket } from "node:net";
import type { ReadInto } from "../reads.js";
import { MuxConnection } from "./connection.js";
import type { MuxStream } from "./stream.js";

export interface MuxClientOptions {
  /** Dials the peer, the socket reading into `reads`. */
  dial(reads: ReadInto): Socket;
  /** The socket's event saying it is established (`secureConnect` for TLS). */
  readyEvent: string;
  /** Names the peer in errors. */
  target: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

/**
 * The client side towards one peer: one connection at a time, dialled when the first stream is
 * wanted, and a new one once it is going away or gone.
 */
export class MuxClient {
  private conn: MuxConnection | undefined;

  constructor(private readonly options: MuxClientOptions) {}

  /**
   * A new stream; it emits MUX_READY once established, or closes with the connection's error.
   * Throws when no connection can even start.
   */
  open(): MuxStream {
    return this.conn?.open() ?? (this.connect().open() as MuxStream);
  }

  private connect(): MuxConnection {
    const { dial, readyEvent, target, connectTimeoutMs, idleTimeoutMs } = this.options;
    const conn: MuxConnection = new MuxConnection({
      role: "client",
      idleTimeoutMs,
      onGoingAway: () => {
        if (this.conn === conn) this.conn = undefined;
      },
    });
    // Throws when the connection cannot even start (no certificate yet), as `net.connect` would.
    const socket = dial(conn.reads);
    this.conn = conn;
    conn.attach(socket);
    const timer = setTimeout(
      () => socket.destroy(new Error(`connecting to ${target} timed out after ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      // A dialler's own check (the peer's protocol) may have refused the connection already.
      if (!socket.destroyed) conn.established();
    });
    socket.once("close", () => clearTimeout(timer));
    return conn;
  }

  /** Streams already open finish; a new stream would dial a new connection. */
  close(): void {
    this.conn?.goAway();
    this.conn = undefined;
  }
}
