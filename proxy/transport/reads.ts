/**
 * Reading a socket into a buffer of one's own, reused for every read: no allocation per read and no
 * stream machinery between the socket and whoever parses or forwards its bytes. `net.connect` and
 * `tls.connect` offer this as their `onread` option; `readInto` gives it to a socket that already
 * exists, such as one a server accepted, TLS or not. Node 24 hands each read of a TLS socket read
 * as a stream over in a 64 KiB buffer of its own (Node 20 sizes it to the read), so this also
 * spares a proxy that reads many small messages most of its garbage.
 */
import net from "node:net";
import { Duplex } from "node:stream";

/** Where a socket's reads land; as `net.connect`'s `onread`. */
export interface ReadInto {
  buffer: Buffer;
  /**
   * `bytes` were read into the start of `buffer`, valid only during this call (the next read
   * overwrites them). Returning false stops reading until the socket is resumed.
   */
  callback(bytes: number, buffer: Buffer): boolean;
}

/**
 * A connection that delivers its reads from a buffer of its own and so takes only the callback: a mux
 * stream, whose bytes come from its connection's buffer.
 */
export interface CallbackReads {
  readInto(reads: Pick<ReadInto, "callback">): void;
}

/** One TLS record's worth: a larger message takes more reads. */
export const READ_BUFFER_BYTES = 16 * 1024;

/**
 * Reads into a buffer made when the socket first asks for it: a reader that may never read a
 * socket's buffer (a mux stream delivers its bytes from the connection's) costs none.
 */
export function lazyReads(callback: ReadInto["callback"]): ReadInto {
  let buffer: Buffer | undefined;
  return {
    get buffer() {
      buffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
      return buffer;
    },
    callback,
  };
}

/** A socket's own read buffer (made on first use), whose reads go to a sink that may change hands. */
export class OwnReads implements ReadInto {
  private own: Buffer | undefined;

  get buffer(): Buffer {
    this.own ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    return this.own;
  }
  /** Where reads go now; as `callback`. */
  constructor(public sink: (bytes: number, buffer: Buffer) => boolean) {}
  /** What the socket calls: fixed when reading is set up, it passes each read to the current sink. */
  readonly callback = (bytes: number, buffer: Buffer): boolean => this.sink(bytes, buffer);
}

/**
 * The reads of a socket that will be joined to another (transport/opaque.ts `splice`), or handed to a
 * new owner: pass it as the socket's `onread`, or to `readInto`. Each read is copied out of the
 * buffer at its size. Bytes that come before `into` are held, and reading stops until then.
 */
export class SplicedReads extends OwnReads {
  private held: Buffer | undefined;

  constructor() {
    super(() => false);
    this.hold();
  }

  /** Keeps what is read from now on, and stops reading, until `into`. */
  hold(): void {
    this.sink = (bytes, buffer) => {
      this.keep(buffer.subarray(0, bytes));
      return false;
    };
  }

  /** Adds a copy of `bytes` to what is held; returns all that is held. */
  keep(bytes: Buffer): Buffer {
    const piece = Buffer.from(bytes);
    this.held = this.held ? Buffer.concat([this.held, piece]) : piece;
    return this.held;
  }

  /** Drops the first `n` bytes held (a header read off the front). */
  release(n: number): void {
    const rest = this.held?.subarray(n);
    this.held = rest && rest.length > 0 ? rest : undefined;
  }

  /**
   * Forwards what `from` (the socket these reads are for) reads to `to`, what is held first, each
   * read copied out at its size, with backpressure: what `from.pipe(to)` does for a stream.
   */
  into(from: Duplex, to: Duplex): void {
    const held = this.held;
    this.held = undefined;
    this.sink = (bytes, buffer) => to.write(Buffer.from(buffer.subarray(0, bytes)));
    to.on("drain", () => from.resume());
    from.once("end", () => to.end());
    if (!held || to.write(held)) from.resume();
  }
}

interface Slots {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/**
 * Where `net.Socket` keeps its `onread` option: the same three fields every socket has (null
 * unless the option was given), found by their names on a socket made for the purpose.
 */
const slots: Slots | undefined = (() => {
  const symbols = Object.getOwnPropertySymbols(new net.Socket());
  const named = (name: string) => symbols.find((s) => s.description === name);
  const buffer = named("kBuffer");
  const callback = named("kBufferCb");
  const generator = named("kBufferGen");
  return buffer && callback && generator ? { buffer, callback, generator } : undefined;
})();

interface UserBufferHandle {
  useUserBuffer?(buffer: Uint8Array): void;
}

/**
 * Reads `socket` into `reads` from now on, as if it had been opened with `onread: reads`; start it
 * with `resume()`, stop it with `pause()` or by returning false. Once set, its reads never arrive
 * as 'data' events: whoever takes the socket over must take `reads` over too. A Node without the
 * means, a socket with bytes already buffered, or a stream that is no socket is read as a stream
 * and each chunk passed on, with the same meaning. Returns whether the socket reads into the buffer.
 */
export function readInto(socket: Duplex | CallbackReads, reads: ReadInto): boolean {
  // A mux stream's bytes come from its connection's buffer: it takes only the callback.
  if (!(socket instanceof Duplex)) {
    socket.readInto(reads);
    return true;
  }
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (slots && typeof handle?.useUserBuffer === "function" && socket.readableLength === 0) {
    const fields = socket as unknown as Record<symbol, unknown>;
    fields[slots.buffer] = reads.buffer;
    fields[slots.callback] = reads.callback;
    fields[slots.generator] = null;
    // biome-ignore lint/correctness/useHookAtTopLevel: the stream handle's method, not a React hook
    handle.useUserBuffer(reads.buffer);
    return true;
  }
  socket.on("data", (chunk: Buffer) => {
    if (reads.callback(chunk.length, chunk) === false) socket.pause();
  });
  return false;
}
