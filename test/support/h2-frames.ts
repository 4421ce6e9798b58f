/**
 * A raw HTTP/2 client for abuse tests: writes frames exactly as given (no flow control, no stream
 * bookkeeping, no limits of its own) and counts what the peer sends back, so a test can send what no
 * well-behaved client library would and see how the server reacts.
 */
import type { Duplex } from "node:stream";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const SETTING = { INITIAL_WINDOW_SIZE: 4, MAX_CONCURRENT_STREAMS: 3 } as const;
export const CANCEL = 8;
/** Error codes (RFC 9113 section 7) the tests look for. */
export const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;

export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

export function settings(entries: Array<[number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export const settingsAck = () => frame(FRAME.SETTINGS, FLAG.ACK, 0);
export const ping = () => frame(FRAME.PING, 0, 0, Buffer.alloc(8));
export const rstStream = (stream: number, code = CANCEL) => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
};

/** An HPACK integer with a 7-bit prefix (the string length form; no Huffman coding). */
function hpackLength(n: number): number[] {
  if (n < 127) return [n];
  const out = [127];
  let rest = n - 127;
  while (rest >= 128) {
    out.push((rest & 127) | 128);
    rest >>= 7;
  }
  out.push(rest);
  return out;
}

/** A header block of literal fields "without indexing, new name": no dynamic table state to track. */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0, ...hpackLength(name.length)]), Buffer.from(name, "latin1"));
    parts.push(Buffer.from(hpackLength(value.length)), Buffer.from(value, "latin1"));
  }
  return Buffer.concat(parts);
}

/** The fields of a GET request for `path` at `authority`, plus `extra`. */
export function getRequest(authority: string, path: string, extra: Array<[string, string]> = []) {
  return headerBlock([
    [":method", "GET"],
    [":scheme", "http"],
    [":path", path],
    [":authority", authority],
    ...extra,
  ]);
}

/** One connection: counts the frames received per type, records a GOAWAY and the close. */
export class RawH2 {
  readonly received = new Map<number, number>();
  /** RST_STREAM frames received, per error code. */
  readonly resets = new Map<number, number>();
  goaway?: { lastStreamId: number; code: number };
  closed = false;
  /** How many frames `flood` wrote before it saw the cut off (or ran out). */
  sent = 0;
  private pending: Buffer = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];

  constructor(readonly socket: Duplex) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", () => {}); // a reset is one way of being cut off
    socket.once("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Whether the peer sent a GOAWAY or closed the connection. */
  get cutOff(): boolean {
    return this.closed || this.goaway !== undefined;
  }

  count(type: number): number {
    return this.received.get(type) ?? 0;
  }

  write(bytes: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  /**
   * The client preface and an empty (or given) SETTINGS frame, and (unless `ack` is false) the ACK of
   * the server's, sent at once as a client that ignores what they say would.
   */
  start(entries: Array<[number, number]> = [], ack = true): void {
    this.write(Buffer.concat([PREFACE, settings(entries), ...(ack ? [settingsAck()] : [])]));
  }

  /**
   * Writes `make(i)` for i from 0 up to `max` - 1 in batches, waiting for the socket to drain, and
   * stops as soon as the peer cut the connection off. Every flood is bounded by `max`.
   */
  async flood(max: number, make: (i: number) => Buffer, batch = 100): Promise<void> {
    for (let i = 0; i < max && !this.cutOff; ) {
      const frames: Buffer[] = [];
      for (const end = Math.min(max, i + batch); i < end; i++) frames.push(make(i));
      this.sent = i;
      if (!this.write(Buffer.concat(frames)) && !this.cutOff) {
        // A peer that stopped reading without cutting the connection off ends the flood too.
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 5000);
          const done = () => {
            clearTimeout(timer);
            resolve(true);
          };
          this.socket.once("drain", done);
          this.waiters.push(done);
        });
        if (!drained) return;
      } else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Resolves once the peer sent a GOAWAY or closed; rejects after `ms`. */
  whenCutOff(ms: number): Promise<void> {
    return this.until(() => this.cutOff, ms, "a GOAWAY or the connection closed");
  }

  /** Resolves once `pred` holds after a frame or the close; rejects after `ms`, naming `what`. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what} within ${ms} ms (received ${this.describe()})`)),
        ms,
      );
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`closed before ${what} (received ${this.describe()})`));
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  describe(): string {
    const types = [...this.received].map(([type, n]) => `${type}×${n}`).join(" ");
    const goaway = this.goaway ? ` GOAWAY(last ${this.goaway.lastStreamId}, code ${this.goaway.code})` : "";
    return `${types || "no frames"}${goaway}${this.closed ? ", closed" : ""}`;
  }

  private read(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      const type = this.pending[3] as number;
      this.received.set(type, this.count(type) + 1);
      if (type === FRAME.RST_STREAM) {
        const code = this.pending.readUInt32BE(9);
        this.resets.set(code, (this.resets.get(code) ?? 0) + 1);
      }
      if (type === FRAME.GOAWAY)
        this.goaway = {
          lastStreamId: this.pending.readUInt32BE(9) & 0x7fffffff,
          code: this.pending.readUInt32BE(13),
        };
      this.pending = this.pending.subarray(9 + length);
    }
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
