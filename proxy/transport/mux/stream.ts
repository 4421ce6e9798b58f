/**
 * A mux stream: a virtual connection that the HTTP/1.1 relay uses as it would a socket, with the
 * per-stream flow control of the wire format (frame.ts). What it writes goes out through its
 * connection; what the connection reads for it arrives through `received`, `receivedEnd`, `credit`
 * and `receivedReset`.
 */
import { EventEmitter } from "node:events";
import type { CallbackReads, ReadInto } from "../reads.js";
import { FIN, INITIAL_WINDOW, MAX_WINDOW, RESET_CODE } from "./frame.js";

/** What a client stream emits once its connection is established, as a socket emits 'connect'. */
export const MUX_READY = "connect";

/**
 * The peer reset a stream; `refused` says it did no work for it. A stream carries one HTTP/1.1
 * exchange after another, so whether the exchange under way had begun is for the HTTP/1.1 client to
 * judge (a refusal after part of its answer is a plain reset there).
 */
export class MuxResetError extends Error {
  override readonly name = "MuxResetError";

  readonly refused: boolean;

  constructor(readonly code: number) {
    super(
      code === RESET_CODE.REFUSED
        ? "the peer refused the stream (it did no work for it)"
        : `the peer reset the stream (code ${code})`,
    );
    this.refused = code === RESET_CODE.REFUSED;
  }
}

/**
 * What a stream needs of the connection that carries it (connection.ts's MuxConnection): where its
 * frames go, and the state it shares with the other streams.
 */
export interface StreamCarrier {
  /** The connection opens streams (client) rather than accepting them. */
  readonly client: boolean;
  /** GOAWAY was sent or received: the connection takes no new streams and closes once idle. */
  readonly goingAway: boolean;
  /** The socket's buffer is full: streams hold their writes until it drains. */
  readonly congested: boolean;
  /** Streams in the middle of an exchange; each stream keeps its own count in it. */
  exchanges: number;
  /** Sends DATA (`chunk` undefined: an empty frame, as for a lone FIN). */
  data(stream: number, chunk: Buffer | undefined, flags: number): void;
  /** Sends WINDOW: the peer may send `n` more bytes on the stream. */
  window(stream: number, n: number): void;
  /** Sends RESET. */
  reset(stream: number, code: number): void;
  /** The stream closed. */
  forget(stream: MuxStream): void;
  /** The peer broke the protocol: closes the connection and every stream on it. */
  protocolError(reason: string): void;
}

/**
 * A virtual connection: what the HTTP/1.1 relay uses of a socket (write, end, pause, resume,
 * destroy and the 'end', 'close', 'error' and 'drain' events). Reads go to a callback, as with a
 * socket's `onread`. A server stream is half-open (the peer's FIN leaves it writable); a client
 * stream ends its side when the peer ends, as a socket that is not half-open does.
 */
export class MuxStream extends EventEmitter implements CallbackReads {
  destroyed = false;
  /** We sent FIN (or it waits behind `pendingOut`). */
  private ending = false;
  private ended = false;
  /** The peer sent FIN. */
  private peerEnded = false;
  private paused = false;
  private reads: ReadInto["callback"] | undefined;
  /** Bytes that came while paused (or before a reader), in order; the peer's FIN waits behind them. */
  private pendingIn: Buffer[] = [];
  private pendingEnd = false;
  private flushQueued = false;
  /** Bytes delivered since the last credit sent to the peer. */
  private consumed = 0;
  private sendWindow = INITIAL_WINDOW;
  /** What the peer may still send before our next credit. */
  private recvWindow = INITIAL_WINDOW;
  /** Bytes written beyond the send window, waiting for credit. */
  private pendingOut: Buffer[] = [];
  private wantDrain = false;
  /** Counted in the connection's `exchanges`. */
  private inExchange = false;

  constructor(
    readonly conn: StreamCarrier,
    readonly id: number,
    private readonly allowHalfOpen: boolean,
  ) {
    super();
  }

  /** The stream's connection is going away: a pool keeps no idle exchange on it. */
  get closing(): boolean {
    return this.conn.goingAway;
  }

  /** Reads land in `reads` from now on, as with a socket's `onread`; returning false pauses. */
  readInto(reads: Pick<ReadInto, "callback">): void {
    this.reads = reads.callback;
    this.flushSoon();
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding): boolean {
    if (this.destroyed || this.ending) return false;
    const chunk =
      typeof data === "string"
        ? Buffer.from(data, encoding ?? "utf8")
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (chunk.length === 0) return true;
    if (this.pendingOut.length > 0 || chunk.length > this.sendWindow) {
      const now = this.pendingOut.length > 0 ? 0 : this.sendWindow;
      if (now > 0) this.send(chunk.subarray(0, now));
      this.pendingOut.push(chunk.subarray(now));
      this.wantDrain = true;
      return false;
    }
    this.send(chunk);
    if (this.conn.congested) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  private send(chunk: Buffer): void {
    this.sendWindow -= chunk.length;
    this.turn(this.conn.client);
    this.conn.data(this.id, chunk, 0);
  }

  /**
   * The exchange on this stream is the peer's turn (`waiting`: a client wrote its request) or ours
   * (a server read one): counted on the connection, which batches writes only when other streams
   * are in the middle of an exchange too.
   */
  private turn(waiting: boolean): void {
    if (this.inExchange === waiting) return;
    this.inExchange = waiting;
    this.conn.exchanges += waiting ? 1 : -1;
  }

  /** Writes already wait for the end of the event loop's turn. */
  cork(): void {}
  uncork(): void {}

  end(data?: string | Uint8Array, encoding?: BufferEncoding): this {
    if (data !== undefined) this.write(data, encoding);
    if (this.destroyed || this.ending) return this;
    this.ending = true;
    if (this.pendingOut.length === 0) this.sendEnd();
    return this;
  }

  private sendEnd(): void {
    this.ended = true;
    this.conn.data(this.id, undefined, FIN);
    this.closeIfDone();
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    this.flushSoon();
    return this;
  }

  /** Abandons the stream both ways; the peer is told with RESET unless both sides had finished. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    if (!(this.ended && this.peerEnded)) this.conn.reset(this.id, RESET_CODE.CANCEL);
    this.closeNow(err);
    return this;
  }

  /**
   * Abandons a stream whose request its app never saw (the app refused the connection): RESET REFUSED
   * tells the peer it may send the request again, to another endpoint.
   */
  refuse(): void {
    if (this.destroyed) return;
    this.conn.reset(this.id, RESET_CODE.REFUSED);
    this.closeNow();
  }

  private closeNow(err?: Error): void {
    this.turn(false);
    this.destroyed = true;
    this.pendingIn = [];
    this.pendingOut = [];
    this.conn.forget(this);
    process.nextTick(() => {
      // Unlike a socket's, an error nobody listens for is not thrown: the stream's user learns of it
      // from 'close', and the proxy stays up.
      if (err && this.listenerCount("error") > 0) this.emit("error", err);
      this.emit("close", err !== undefined);
    });
  }

  // What the connection tells the stream.

  /** Bytes for this stream, valid only during this call. */
  received(bytes: Buffer): void {
    if (this.destroyed || this.peerEnded) return;
    // A peer that sends past the credit it was given would make a stalled reader hold without bound.
    this.recvWindow -= bytes.length;
    if (this.recvWindow < 0) {
      this.conn.protocolError(`stream ${this.id} sent past its window`);
      return;
    }
    this.turn(!this.conn.client);
    if (this.paused || !this.reads || this.pendingIn.length > 0) this.pendingIn.push(Buffer.from(bytes));
    else this.deliver(bytes);
  }

  private deliver(bytes: Buffer): void {
    this.consumed += bytes.length;
    if (this.consumed >= INITIAL_WINDOW / 2) {
      this.conn.window(this.id, this.consumed);
      this.recvWindow += this.consumed;
      this.consumed = 0;
    }
    if ((this.reads as ReadInto["callback"])(bytes.length, bytes) === false) this.paused = true;
  }

  /** Delivers what is held on the next tick, as a socket starts reading: never inside the caller. */
  private flushSoon(): void {
    if (this.flushQueued || this.pendingIn.length + Number(this.pendingEnd) === 0) return;
    this.flushQueued = true;
    process.nextTick(() => {
      this.flushQueued = false;
      this.flushIn();
    });
  }

  private flushIn(): void {
    while (this.pendingIn.length > 0 && !this.paused && this.reads && !this.destroyed)
      this.deliver(this.pendingIn.shift() as Buffer);
    if (this.pendingEnd && this.pendingIn.length === 0 && !this.paused && this.reads && !this.destroyed) {
      this.pendingEnd = false;
      this.emitEnd();
    }
  }

  receivedEnd(): void {
    if (this.destroyed || this.peerEnded) return;
    this.peerEnded = true;
    this.pendingEnd = true;
    this.flushIn();
  }

  private emitEnd(): void {
    this.emit("end");
    if (!this.allowHalfOpen) this.end();
    this.closeIfDone();
  }

  /** Both sides sent FIN and the peer's was read: the stream is done. */
  private closeIfDone(): void {
    if (this.ended && this.peerEnded && !this.pendingEnd && !this.destroyed) this.closeNow();
  }

  /** The peer takes `n` more bytes. */
  credit(n: number): void {
    if (this.destroyed) return;
    if (this.sendWindow + n > MAX_WINDOW) {
      this.conn.protocolError(`stream ${this.id} given a window past 2^31 - 1`);
      return;
    }
    this.sendWindow += n;
    while (this.pendingOut.length > 0 && this.sendWindow > 0) {
      const chunk = this.pendingOut[0] as Buffer;
      const now = chunk.subarray(0, this.sendWindow);
      this.send(now);
      if (now.length === chunk.length) this.pendingOut.shift();
      else this.pendingOut[0] = chunk.subarray(now.length);
    }
    if (this.pendingOut.length > 0) return;
    if (this.ending && !this.ended) this.sendEnd();
    this.drained();
  }

  /** Writes may go on: the window has room and the connection is not congested. */
  drained(): void {
    if (!this.wantDrain || this.pendingOut.length > 0 || this.conn.congested || this.destroyed) return;
    this.wantDrain = false;
    this.emit("drain");
  }

  /** RESET from the peer, or REFUSED for a stream a GOAWAY shows it never took. */
  receivedReset(code: number): void {
    if (this.destroyed) return;
    this.closeNow(new MuxResetError(code));
  }

  /** The connection is gone. */
  lost(err: Error): void {
    if (!this.destroyed) this.closeNow(err);
  }
}
