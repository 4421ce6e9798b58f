/**
 * The mux wire format (ALPN `trellis.dev/mux/v1`): frames of an 8-byte header and a payload,
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
 * A frame that breaks these rules closes the connection, and every stream on it. This file holds the
 * format's constants and limits, the header's encoding and decoding, and the rules a header alone
 * must keep; what a frame does to a stream or a connection is theirs (stream.ts, connection.ts).
 */

export const HEADER_BYTES = 8;
export const MAX_FRAME_PAYLOAD = 16 * 1024;
/** What either side may send on a stream before the receiver's first credit. */
export const INITIAL_WINDOW = 64 * 1024;
/** Streams a connection carries at once; a server refuses more. */
export const MAX_STREAMS = 1024;
/** The largest window a stream may be given (2^31 - 1, as in HTTP/2). */
export const MAX_WINDOW = 0x7fffffff;
export const MAX_STREAM_ID = 0x7fffffff;
/** The payload of every control frame (WINDOW, RESET, GOAWAY): one u32. */
export const CONTROL_PAYLOAD_BYTES = 4;

export const FRAME = { DATA: 0, WINDOW: 1, RESET: 2, GOAWAY: 3 } as const;
export const FIN = 1;
export const RESET_CODE = { CANCEL: 0, REFUSED: 1 } as const;

/** A frame header as read; one object per connection, overwritten by each frame. */
export interface FrameHeader {
  type: number;
  flags: number;
  length: number;
  stream: number;
}

/** Writes a frame header into `out` at `at`; returns where its payload goes. */
export function encodeHeader(
  out: Buffer,
  at: number,
  type: number,
  flags: number,
  length: number,
  stream: number,
): number {
  out[at] = type;
  out[at + 1] = flags;
  out.writeUInt16BE(length, at + 2);
  out.writeUInt32BE(stream, at + 4);
  return at + HEADER_BYTES;
}

/** Reads the frame header at `at` in `b` into `f`. */
export function decodeHeader(b: Buffer, at: number, f: FrameHeader): void {
  f.type = b[at] as number;
  f.flags = b[at + 1] as number;
  f.length = b.readUInt16BE(at + 2);
  f.stream = b.readUInt32BE(at + 4);
}

/** How the header breaks the format, or undefined when it keeps it. */
export function headerError(f: FrameHeader): string | undefined {
  if (f.type > FRAME.GOAWAY) return `unknown frame type ${f.type}`;
  if (f.length > MAX_FRAME_PAYLOAD) return `a frame of ${f.length} bytes (at most ${MAX_FRAME_PAYLOAD})`;
  if (f.type === FRAME.DATA) return f.stream === 0 ? "DATA on stream 0" : undefined;
  if (f.length !== CONTROL_PAYLOAD_BYTES)
    return `frame type ${f.type} with ${f.length} bytes (${CONTROL_PAYLOAD_BYTES} expected)`;
  if ((f.type === FRAME.GOAWAY) !== (f.stream === 0)) return `frame type ${f.type} on stream ${f.stream}`;
  return undefined;
}
