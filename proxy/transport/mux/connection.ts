/**
 * One mux connection: the streams it carries (stream.ts) over one socket, in the wire format of
 * frame.ts. While several exchanges are under way, what the streams write in one turn of the event
 * loop leaves in one write (up to MAX_BATCH_FRAMES frames), so a proxy carrying many requests at once
 * makes one read and one write per batch on the mTLS hop, where a connection per request makes one
 * each per request; a lone exchange's write leaves at once, adding no latency.
 */
import type { Socket } from "node:net";
import { READ_BUFFER_BYTES, type ReadInto } from "../reads.js";
import {
  CONTROL_PAYLOAD_BYTES,
  decodeHeader,
  encodeHeader,
  FIN,
  FRAME,
  type FrameHeader,
  HEADER_BYTES,
  headerError,
  MAX_FRAME_PAYLOAD,
  MAX_STREAM_ID,
  MAX_STREAMS,
  RESET_CODE,
} from "./frame.js";
import { MUX_READY, MuxStream, type StreamCarrier } from "./stream.js";

/** What one turn's writes may hold before they are sent without waiting for the turn's end. */
const MAX_BATCH_BYTES = 64 * 1024;
/**
 * Frames a batch holds before it is sent without waiting for the turn's end. Sent early, the first
 * requests of a burst keep the peer busy while this side reads the rest, instead of the two proxies
 * taking turns (docs/performance.md has the figures).
 */
const MAX_BATCH_FRAMES = 8;
/** How long a closing connection waits for the peer's end before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** The peer broke the protocol; the connection was closed. */
export class MuxProtocolError extends Error {
  override readonly name = "MuxProtocolError";
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
  /** Streams a server holds open at once, at most MAX_STREAMS (the default); the peer's next ones are refused. */
  maxStreams?: number;
  /** A server refused a stream: the peer already held `maxStreams`. */
  onRefused?(): void;
  /** A server cut the peer off: over MAX_STREAMS refusals in a row, none of its streams finishing. */
  onCutOff?(reason: "refused_streams"): void;
}

/** One connection carrying streams. */
export class MuxConnection implements StreamCarrier {
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
  private readonly frame: FrameHeader = { type: 0, flags: 0, length: 0, stream: 0 };
  /** Payload bytes of the current frame still to come. */
  private payloadLeft = 0;
  /** A control frame's payload (u32) being read, possibly split across reads. */
  private readonly control = Buffer.allocUnsafe(CONTROL_PAYLOAD_BYTES);
  /** A control frame's payload being written. */
  private readonly controlOut = Buffer.allocUnsafe(CONTROL_PAYLOAD_BYTES);
  private controlHave = 0;
  /** Streams refused since one of the peer's streams last finished. */
  private refusedInARow = 0;
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
    let at = encodeHeader(out, this.outLength, type, flags, length, stream);
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
        decodeHeader(buffer, at, this.frame);
        at += HEADER_BYTES;
      } else {
        const take = Math.min(HEADER_BYTES - this.headerHave, bytes - at);
        buffer.copy(this.header, this.headerHave, at, at + take);
        this.headerHave += take;
        at += take;
        if (this.headerHave < HEADER_BYTES) return;
        this.headerHave = 0;
        decodeHeader(this.header, 0, this.frame);
      }
      this.frameStarted();
    }
  }

  /** Checks a frame's header and gets ready for its payload. */
  private frameStarted(): void {
    const f = this.frame;
    const broken = headerError(f);
    if (broken !== undefined) {
      this.protocolError(broken);
      return;
    }
    if (f.type !== FRAME.DATA) this.controlHave = 0;
    else if (!this.streams.has(f.stream)) this.unknownStream(f.stream);
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
    const max = this.options.maxStreams ?? MAX_STREAMS;
    if (this.goingAway || this.streams.size >= max) {
      this.reset(id, RESET_CODE.REFUSED);
      if (this.goingAway) return;
      this.options.onRefused?.();
      // One ignoring refusals is cut off, past the protocol's limit, never reached by a proxy's pool.
      if (++this.refusedInARow > MAX_STREAMS) this.cutOff();
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

  /** Closes the connection for a peer that keeps opening streams it is refused. */
  private cutOff(): void {
    this.options.onCutOff?.("refused_streams");
    this.protocolError("the peer kept opening streams past the limit");
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
    this.refusedInARow = 0;
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
