/**
 * Many byte streams over one connection: how HTTP/1.1 crosses between two proxies. Each stream is
 * a virtual connection that the HTTP/1.1 relay uses as it would a socket (the client pool keeps
 * them alive, the server parses them). While several exchanges are under way, what the streams
 * write in one turn of the event loop leaves in one TLS write (up to MAX_BATCH_FRAMES frames), so a
 * proxy carrying many requests at once makes one read and one write per batch on the mTLS hop,
 * where a connection per request makes one each per request; a lone exchange's write leaves at
 * once, adding no latency.
 *
 * Wire format (ALPN `trellis.dev/mux/v1`): frames of an 8-byte header and a payload,
 *
 *     type u8 | flags u8 | payload length u16 (at most 16384) | stream id u32
 *
 * - DATA (0): bytes of the stream. Flag FIN (1): the sender is done sending (a half-close). The
 *   client opens a stream by sending DATA on a new odd id; ids only grow.
 * - WINDOW (1), payload u32: how many more bytes the receiver takes on the stream. Each side may
 *   send `INITIAL_WINDOW` bytes on a stream before any credit, so a stream whose reader stalls
 *   holds at most that much at the receiver and never holds up the others; sending past the window
 *   breaks the protocol.
 * - RESET (2), payload u32 code: the stream is abandoned both ways.
 * - GOAWAY (3), on stream 0, payload u32 (the last stream id the sender accepted): no new streams;
 *   the ones already open finish, then the connection closes. A client's streams past that id were
 *   never seen by the server: they fail as refused, and their requests may be sent again.
 *
 * A frame that breaks these rules closes the connection, and every stream on it.
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { READ_BUFFER_BYTES, type ReadInto } from "../reads.js";

export const HEADER_BYTES = 8;
export const MAX_FRAME_PAYLOAD = 16 * 1024;
/** What either side may send on a stream before the receiver's first credit. */
export const INITIAL_WINDOW = 64 * 1024;
/** Streams a connection carries at once; a server refuses more. */
export const MAX_STREAMS = 1024;
/** The largest window a stream may be given (2^31 - 1, as in HTTP/2). */
const MAX_WINDOW = 0x7fffffff;
const MAX_STREAM_ID = 0x7fffffff;
/** What one turn's writes may hold before they are sent without waiting for the turn's end. */
const MAX_BATCH_BYTES = 64 * 1024;
/**
 * Frames a batch holds before it is sent without waiting for the turn's end. Sent early, the first
 * requests of a burst keep the peer busy while this side reads the rest, instead of the two proxies
 * taking turns: in paired runs at 32 connections, 8 left the machine 16-18 % idle against 22-28 %
 * for whole turns, for about a quarter more requests per second (4 and 16 did no better than 8).
 */
const MAX_BATCH_FRAMES = 8;
/** How long a closing connection waits for the peer's end before it is cut. */
const CLOSE_GRACE_MS = 2000;

export const FRAME = { DATA: 0, WINDOW: 1, RESET: 2, GOAWAY: 3 } as const;
export const FIN = 1;
export const RESET_CODE = { CANCEL: 0, REFUSED: 1 } as const;

/** What a client stream emits once its connection is established, as a socket emits 'connect'. */
export const MUX_READY = "connect";

/** The peer reset a stream; `refused` says it took none of it (safe to send again elsewhere). */
export class MuxResetError extends Error {
  override readonly name = "MuxResetError";
  readonly refused: boolean;

  constructor(readonly code: number) {
    super(
      code === RESET_CODE.REFUSED
        ? "the peer refused the stream (it takes no new ones)"
        : `the peer reset the stream (code ${code})`,
    );
    this.refused = code === RESET_CODE.REFUSED;
  }
}

/** The peer broke the protocol; the connection was closed. */
export class MuxProtocolError extends Error {
  override readonly name = "MuxProtocolError";
}

/**
 * A virtual connection: what the HTTP/1.1 relay uses of a socket (write, end, pause, resume,
 * destroy and the 'end', 'close', 'error' and 'drain' events). Reads go to a callback, as with a
 * socket's `onread`. A server stream is half-open (the peer's FIN leaves it writable); a client
 * stream ends its side when the peer ends, as a socket that is not half-open does.
 */
export class MuxStream extends EventEmitter {
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
    readonly conn: MuxConnection,
    readonly id: number,
    private readonly allowHalfOpen: boolean,
  ) {
    super();
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

  receivedReset(code: number): void {
    if (this.destroyed) return;
    this.closeNow(new MuxResetError(code));
  }

  /** The connection is gone. */
  lost(err: Error): void {
    if (!this.destroyed) this.closeNow(err);
  }
}

export interface MuxConnectionOptions {
  /** A client opens streams; a server accepts them. */
  role: "client" | "server";
  /** A server's new stream, before its first bytes arrive. */
  onStream?(stream: MuxStream): void;
  /** The connection takes no new streams (GOAWAY sent or received, or it closed). */
  onGoingAway?(): void;
  /** The peer broke the protocol (the connection is closed). */
  onProtocolError?(err: MuxProtocolError): void;
  /** A connection with no stream for this long goes away. */
  idleTimeoutMs: number;
  /** A connection that opens no stream this soon after it starts goes away (a server's deadline). */
  openTimeoutMs?: number;
}

/** One connection carrying streams. */
export class MuxConnection {
  readonly streams = new Map<number, MuxStream>();
  socket: Socket | undefined;
  private nextId = 1;
  private lastPeerId = 0;
  /** Frames written in this turn of the event loop, sent together at its end (or once past a batch). */
  private readonly out: Buffer = Buffer.allocUnsafe(MAX_BATCH_BYTES + HEADER_BYTES + MAX_FRAME_PAYLOAD);
  private outLength = 0;
  private flushScheduled = false;
  /** Frames in `out`. */
  private framesOut = 0;
  /** A frame header split across reads. */
  private readonly header = Buffer.allocUnsafe(HEADER_BYTES);
  private headerHave = 0;
  private readonly frame = { type: 0, flags: 0, length: 0, stream: 0 };
  /** Payload bytes of the current frame still to come. */
  private payloadLeft = 0;
  /** A control frame's payload (u32) being read, possibly split across reads. */
  private readonly control = Buffer.allocUnsafe(4);
  /** A control frame's payload being written. */
  private readonly controlOut = Buffer.allocUnsafe(4);
  private controlHave = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private ready = false;
  readonly client: boolean;
  /**
   * Streams in the middle of an exchange: a client's that wrote and wait for an answer, a server's
   * that read and have not answered.
   */
  exchanges = 0;
  goingAway = false;
  closed = false;
  /** The socket's buffer is full: streams hold their writes until it drains. */
  congested = false;

  /** Pass as the socket's `onread` (or to `readInto`). */
  readonly reads: ReadInto = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback: (bytes, buffer) => {
      this.onRead(buffer, bytes);
      return true;
    },
  };

  constructor(private readonly options: MuxConnectionOptions) {
    this.client = options.role === "client";
  }

  /** Carries the streams over `socket`, which reads into `reads`. */
  attach(socket: Socket): void {
    this.socket = socket;
    this.idle(this.options.openTimeoutMs);
    socket.on("drain", () => {
      this.congested = false;
      for (const stream of this.streams.values()) stream.drained();
    });
    let error: Error | undefined;
    socket.on("error", (err) => {
      error = err;
    });
    socket.once("close", () => this.lostAll(error ?? new Error("the connection to the peer closed")));
    // The peer ending its side ends the connection: streams half-close inside it, not the connection.
    socket.on("end", () => socket.end());
    if (this.options.role === "server") this.established();
  }

  /** The connection is established: its streams are too (client side). */
  established(): void {
    this.ready = true;
    for (const stream of this.streams.values()) stream.emit(MUX_READY);
  }

  /**
   * Opens a stream (client side); it emits MUX_READY once the connection is established.
   * Undefined when this connection takes no new streams.
   */
  open(): MuxStream | undefined {
    if (this.goingAway || this.closed) return undefined;
    if (this.nextId > MAX_STREAM_ID) {
      this.goAway();
      return undefined;
    }
    const stream = this.add(this.nextId, false);
    this.nextId += 2;
    if (this.ready) process.nextTick(() => stream.emit(MUX_READY));
    return stream;
  }

  private add(id: number, allowHalfOpen: boolean): MuxStream {
    const stream = new MuxStream(this, id, allowHalfOpen);
    this.streams.set(id, stream);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return stream;
  }

  /** Takes no new streams and tells the peer; the connection closes once the open ones finish. */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    this.controlOut.writeUInt32BE(this.lastPeerId);
    this.frameOut(FRAME.GOAWAY, 0, 0, this.controlOut);
    this.options.onGoingAway?.();
    this.closeIfDone();
  }

  // Writing: frames collect in `out` and leave together.

  data(stream: number, chunk: Buffer | undefined, flags: number): void {
    if (!chunk) {
      this.frameOut(FRAME.DATA, flags, stream, undefined);
      return;
    }
    for (let at = 0; at < chunk.length; at += MAX_FRAME_PAYLOAD) {
      const last = at + MAX_FRAME_PAYLOAD >= chunk.length;
      this.frameOut(FRAME.DATA, last ? flags : 0, stream, chunk.subarray(at, at + MAX_FRAME_PAYLOAD));
    }
  }

  window(stream: number, n: number): void {
    this.controlOut.writeUInt32BE(n);
    this.frameOut(FRAME.WINDOW, 0, stream, this.controlOut);
  }

  reset(stream: number, code: number): void {
    this.controlOut.writeUInt32BE(code);
    this.frameOut(FRAME.RESET, 0, stream, this.controlOut);
  }

  private frameOut(type: number, flags: number, stream: number, payload: Buffer | undefined): void {
    if (this.closed) return;
    // Room for one more frame is always left: a batch is sent once it passes MAX_BATCH_BYTES.
    const length = payload?.length ?? 0;
    const out = this.out;
    let at = this.outLength;
    out[at] = type;
    out[at + 1] = flags;
    out.writeUInt16BE(length, at + 2);
    out.writeUInt32BE(stream, at + 4);
    at += HEADER_BYTES;
    if (payload) at += payload.copy(out, at);
    this.outLength = at;
    // A turn that writes a lot (a large body, a burst of requests) sends as it goes.
    if (at >= MAX_BATCH_BYTES || ++this.framesOut >= MAX_BATCH_FRAMES) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // With other exchanges under way, what they write in this turn of the event loop joins this
      // write; alone, it leaves as soon as the code writing it is done.
      if (this.exchanges > (this.client ? 1 : 0)) setImmediate(this.flush);
      else process.nextTick(this.flush);
    }
  }

  /** Sends what this turn wrote, in one write. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.framesOut = 0;
    const socket = this.socket;
    if (this.closed || this.outLength === 0 || !socket) return;
    const chunk = Buffer.allocUnsafe(this.outLength);
    this.out.copy(chunk, 0, 0, this.outLength);
    this.outLength = 0;
    if (!socket.write(chunk)) this.congested = true;
    this.closeIfDone();
  };

  // Reading.

  /** `bytes` were read into the start of `buffer`. */
  private onRead(buffer: Buffer, bytes: number): void {
    let at = 0;
    while (at < bytes && !this.closed) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, bytes - at);
        this.payload(buffer.subarray(at, at + take));
        at += take;
        this.payloadLeft -= take;
        if (this.payloadLeft === 0) this.frameDone();
        continue;
      }
      if (this.headerHave === 0 && bytes - at >= HEADER_BYTES) {
        this.parseHeader(buffer, at);
        at += HEADER_BYTES;
      } else {
        const take = Math.min(HEADER_BYTES - this.headerHave, bytes - at);
        buffer.copy(this.header, this.headerHave, at, at + take);
        this.headerHave += take;
        at += take;
        if (this.headerHave < HEADER_BYTES) return;
        this.headerHave = 0;
        this.parseHeader(this.header, 0);
      }
      this.frameStarted();
    }
  }

  private parseHeader(b: Buffer, at: number): void {
    const f = this.frame;
    f.type = b[at] as number;
    f.flags = b[at + 1] as number;
    f.length = b.readUInt16BE(at + 2);
    f.stream = b.readUInt32BE(at + 4);
  }

  /** Checks a frame's header and gets ready for its payload. */
  private frameStarted(): void {
    const f = this.frame;
    if (f.type > FRAME.GOAWAY) {
      this.protocolError(`unknown frame type ${f.type}`);
      return;
    }
    if (f.length > MAX_FRAME_PAYLOAD) {
      this.protocolError(`a frame of ${f.length} bytes (at most ${MAX_FRAME_PAYLOAD})`);
      return;
    }
    switch (f.type) {
      case FRAME.DATA:
        if (f.stream === 0) {
          this.protocolError("DATA on stream 0");
          return;
        }
        if (!this.streams.has(f.stream)) this.unknownStream(f.stream);
        break;
      case FRAME.WINDOW:
      case FRAME.RESET:
      case FRAME.GOAWAY:
        if (f.length !== 4) {
          this.protocolError(`frame type ${f.type} with ${f.length} bytes (4 expected)`);
          return;
        }
        if ((f.type === FRAME.GOAWAY) !== (f.stream === 0)) {
          this.protocolError(`frame type ${f.type} on stream ${f.stream}`);
          return;
        }
        this.controlHave = 0;
        break;
    }
    if (this.closed) return;
    this.payloadLeft = f.length;
    if (f.length === 0) this.frameDone();
  }

  /**
   * DATA for a stream that is not open: the client opening a new one, or bytes for one that closed
   * here while the peer was still sending (dropped).
   */
  private unknownStream(id: number): void {
    const odd = id % 2 === 1;
    if (this.options.role === "client") {
      if (!odd || id >= this.nextId) this.protocolError(`DATA on stream ${id}, which was never opened`);
      return;
    }
    if (!odd) {
      this.protocolError(`DATA on stream ${id}: clients open odd streams`);
      return;
    }
    if (id <= this.lastPeerId) return;
    this.lastPeerId = id;
    if (this.goingAway || this.streams.size >= MAX_STREAMS) {
      this.reset(id, RESET_CODE.REFUSED);
      return;
    }
    this.options.onStream?.(this.add(id, true));
  }

  private payload(bytes: Buffer): void {
    const f = this.frame;
    if (f.type === FRAME.DATA) {
      this.streams.get(f.stream)?.received(bytes);
      return;
    }
    bytes.copy(this.control, this.controlHave);
    this.controlHave += bytes.length;
  }

  private frameDone(): void {
    const f = this.frame;
    const stream = f.stream === 0 ? undefined : this.streams.get(f.stream);
    switch (f.type) {
      case FRAME.DATA:
        if (f.flags & FIN) stream?.receivedEnd();
        break;
      case FRAME.WINDOW: {
        const n = this.control.readUInt32BE(0);
        if (n === 0) this.protocolError(`a WINDOW of 0 on stream ${f.stream}`);
        else stream?.credit(n);
        break;
      }
      case FRAME.RESET:
        stream?.receivedReset(this.control.readUInt32BE(0));
        break;
      case FRAME.GOAWAY: {
        if (!this.goingAway) {
          this.goingAway = true;
          this.options.onGoingAway?.();
        }
        // The streams we opened past the last one the peer took were never seen there, and never
        // will be: refused, so their requests may go elsewhere.
        const last = this.control.readUInt32BE(0);
        if (this.client)
          for (const s of [...this.streams.values()]) if (s.id > last) s.receivedReset(RESET_CODE.REFUSED);
        this.closeIfDone();
        break;
      }
    }
  }

  /** Closes the connection, and every stream on it, for a broken rule. */
  protocolError(reason: string): void {
    if (this.closed) return;
    const err = new MuxProtocolError(reason);
    this.options.onProtocolError?.(err);
    this.lostAll(err);
    this.socket?.destroy();
  }

  // Lifetime.

  /** A stream closed. */
  forget(stream: MuxStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    if (this.streams.size === 0) this.idle();
    this.closeIfDone();
  }

  private idle(timeoutMs = this.options.idleTimeoutMs): void {
    if (this.closed || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.streams.size === 0) this.goAway();
    }, timeoutMs);
    this.idleTimer.unref();
  }

  /** A connection going away closes once its last stream has and what it wrote is out. */
  private closeIfDone(): void {
    if (!this.goingAway || this.closed || this.streams.size > 0 || this.flushScheduled) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    const socket = this.socket;
    socket?.end();
    // A peer that never ends its side is not waited for.
    if (socket) setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Closes every stream: the connection is gone. */
  private lostAll(err: Error): void {
    const wasGoingAway = this.goingAway;
    this.closed = true;
    this.goingAway = true;
    clearTimeout(this.idleTimer);
    if (!wasGoingAway) this.options.onGoingAway?.();
    for (const stream of [...this.streams.values()]) stream.lost(err);
    this.streams.clear();
  }
}

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
