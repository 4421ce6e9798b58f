/**
 * Fuzzing the mux frame reader (proxy/transport/mux): the frame header's codec, and a server
 * connection fed what a hostile client proxy may send (a client connection, what a hostile server
 * may send), split anywhere across reads. Every outcome is
 * checked against a model of docs/mux-protocol.md written here: which bytes each stream delivers,
 * which streams end, are reset or refused, and whether (and only when the specification says so) the
 * connection is closed for a protocol error. The connection never throws, whatever it reads.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeHeader,
  encodeHeader,
  type FrameHeader,
  headerError,
  MAX_FRAME_PAYLOAD,
  MAX_WINDOW,
} from "../../proxy/transport/mux/frame.js";
import { MuxConnection, MuxResetError, type MuxStream } from "../../proxy/transport/mux/index.js";
import { readInto } from "../../proxy/transport/reads.js";
import { asyncBudget, budget, corpus, cuts, everySplit, hostile, splitAt } from "./support.js";

const HEADER = 8;
const WINDOW = 64 * 1024;
const HALF = WINDOW / 2;

/** A frame as a test writes it, byte by byte: not with the proxy's encoder. */
interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function wire(frames: RawFrame[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const h = Buffer.alloc(HEADER);
      h[0] = f.type;
      h[1] = f.flags;
      h.writeUInt16BE(Math.min(f.payload.length, 0xffff), 2);
      h.writeUInt32BE(f.stream, 4);
      return [h, f.payload];
    }),
  );
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

const streamId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(1, 3, 5, 7, 9) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2, 4, 0x7fffffff, 0x80000001, 0xffffffff) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
);
const payload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_FRAME_PAYLOAD, 12_000).map((n) => Buffer.alloc(n, 0x61)) },
);
const control = (type: number, value: fc.Arbitrary<number>, stream: fc.Arbitrary<number> = streamId) =>
  fc.record({ type: fc.constant(type), flags: fc.constant(0), stream, payload: value.map(u32) });
const frameArb: fc.Arbitrary<RawFrame> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ type: fc.constant(0), flags: fc.nat({ max: 3 }), stream: streamId, payload }),
  },
  {
    weight: 2,
    arbitrary: control(1, fc.oneof(fc.constantFrom(0, 1, HALF, MAX_WINDOW - WINDOW, MAX_WINDOW), fc.nat())),
  },
  { weight: 2, arbitrary: control(2, fc.constantFrom(0, 1, 7)) },
  { weight: 1, arbitrary: control(3, fc.nat({ max: 9 }), fc.constantFrom(0, 0, 1)) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.nat({ max: 255 }),
      flags: fc.nat({ max: 255 }),
      stream: streamId,
      payload: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    }),
  },
);
const frames = fc.array(frameArb, { maxLength: 16 }).map(wire);

/** What a server connection did with its input, as the model and the real one both report it. */
interface Outcome {
  protocolError: boolean;
  /** Streams opened, in order. */
  opened: number[];
  /** What each reading stream delivered (latin1), and whether it saw the peer's end. */
  delivered: Record<number, string>;
  ended: number[];
  /** Streams the peer reset, with the code. */
  reset: Record<number, number>;
  /** New streams refused (RESET REFUSED written back). */
  refused: number[];
  /** The model stops predicting after a GOAWAY that leaves no stream open (the connection closes). */
  exact: boolean;
}

/** Streams 1, 5, 9… are read as they arrive; 3, 7, 11… never get a reader (they stall). */
const reading = (id: number) => id % 4 === 1;

type Role = "client" | "server";
/** The streams a client connection has opened before its input arrives. */
const CLIENT_STREAMS = [1, 3, 5, 7, 9];

/** docs/mux-protocol.md, for one side of a connection, over the whole input. */
function model(input: Buffer, role: Role): Outcome {
  const out: Outcome = {
    protocolError: false,
    opened: [],
    delivered: {},
    ended: [],
    reset: {},
    refused: [],
    exact: true,
  };
  const open = new Map<number, { received: number; sendWindow: number; peerEnded: boolean }>();
  if (role === "client")
    for (const id of CLIENT_STREAMS) {
      open.set(id, { received: 0, sendWindow: WINDOW, peerEnded: false });
      out.opened.push(id);
      if (reading(id)) out.delivered[id] = "";
    }
  let lastPeerId = 0;
  let goingAway = false;
  let at = 0;
  const fail = () => {
    out.protocolError = true;
    return out;
  };
  while (at + HEADER <= input.length) {
    const type = input[at] as number;
    const flags = input[at + 1] as number;
    const length = input.readUInt16BE(at + 2);
    const id = input.readUInt32BE(at + 4);
    at += HEADER;
    const body = input.subarray(at, at + length);
    at += length;
    const whole = body.length === length;
    if (type > 3) return fail();
    if (length > MAX_FRAME_PAYLOAD) return fail();
    if (type === 0) {
      if (id === 0) return fail();
      if (!open.has(id) && role === "client") {
        // Streams the client opened and closed since are dropped; any other is an error.
        if (id % 2 === 0 || id > (CLIENT_STREAMS.at(-1) as number)) return fail();
        continue;
      }
      if (!open.has(id)) {
        if (id % 2 === 0) return fail();
        if (id > lastPeerId) {
          lastPeerId = id;
          if (goingAway) out.refused.push(id);
          else {
            open.set(id, { received: 0, sendWindow: WINDOW, peerEnded: false });
            out.opened.push(id);
            if (reading(id)) out.delivered[id] = "";
          }
        }
      }
      const s = open.get(id);
      if (!s || s.peerEnded) continue;
      // A reader that takes every byte gives credit back before its window can run out.
      s.received += body.length;
      if (!reading(id) && s.received > WINDOW) return fail();
      if (reading(id)) out.delivered[id] += body.toString("latin1");
      if (whole && flags & 1) {
        s.peerEnded = true;
        if (reading(id)) out.ended.push(id);
        // A client stream ends its side when the peer ends: both done, it closes.
        if (reading(id) && role === "client") open.delete(id);
      }
      continue;
    }
    if (length !== 4) return fail();
    if ((type === 3) !== (id === 0)) return fail();
    if (!whole) break;
    const value = body.readUInt32BE(0);
    const s = open.get(id);
    if (type === 1) {
      if (value === 0) return fail();
      if (s) {
        if (s.sendWindow + value > MAX_WINDOW) return fail();
        s.sendWindow += value;
      }
    } else if (type === 2) {
      if (s) {
        open.delete(id);
        out.reset[id] = value;
      }
    } else {
      goingAway = true;
      // The client's streams past the last one the server took were never seen there: refused.
      if (role === "client")
        for (const [sid] of open)
          if (sid > value) {
            open.delete(sid);
            out.reset[sid] = 1;
          }
    }
    if (goingAway && open.size === 0) {
      out.exact = false;
      return out;
    }
  }
  return out;
}

/** A socket as a MuxConnection uses one, keeping what is written to it. */
class FakeSocket extends EventEmitter {
  written: Buffer[] = [];
  destroyed = false;
  write(chunk: Buffer): boolean {
    this.written.push(Buffer.from(chunk));
    return true;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

/** Feeds `pieces` to a fresh connection, one read each, and reports what it did. */
async function run(pieces: Buffer[], role: Role): Promise<Outcome> {
  const out: Outcome = {
    protocolError: false,
    opened: [],
    delivered: {},
    ended: [],
    reset: {},
    refused: [],
    exact: true,
  };
  const streams: MuxStream[] = [];
  const watch = (s: MuxStream) => {
    streams.push(s);
    out.opened.push(s.id);
    s.on("error", (err: Error) => {
      if (err instanceof MuxResetError) out.reset[s.id] = err.code;
    });
    if (!reading(s.id)) return;
    out.delivered[s.id] = "";
    readInto(s, {
      buffer: Buffer.alloc(0),
      callback: (bytes, buffer) => {
        out.delivered[s.id] += buffer.subarray(0, bytes).toString("latin1");
        return true;
      },
    });
    s.on("end", () => out.ended.push(s.id));
  };
  const conn = new MuxConnection({
    role,
    idleTimeoutMs: 60_000,
    onProtocolError: () => {
      out.protocolError = true;
    },
    onStream: watch,
  });
  const socket = new FakeSocket();
  conn.attach(socket as unknown as Socket);
  if (role === "client") for (const _ of CLIENT_STREAMS) watch(conn.open() as MuxStream);
  const read = conn.reads;
  for (const piece of pieces) {
    // A read lands in the connection's own buffer, as a socket reading into it would put it.
    for (let at = 0; at < piece.length; at += read.buffer.length) {
      const n = piece.copy(read.buffer, 0, at, at + read.buffer.length);
      read.callback(n, read.buffer);
    }
  }
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  for (const s of streams) s.removeAllListeners("end");
  // RESET REFUSED frames written back, and credit never more than what a reader took.
  const credit: Record<number, number> = {};
  const written = Buffer.concat(socket.written);
  const f: FrameHeader = { type: 0, flags: 0, length: 0, stream: 0 };
  for (let at = 0; at + HEADER <= written.length; at += HEADER + f.length) {
    decodeHeader(written, at, f);
    if (f.type === 0) continue;
    const value = written.readUInt32BE(at + HEADER);
    if (f.type === 2 && value === 1) out.refused.push(f.stream);
    if (f.type === 1) credit[f.stream] = (credit[f.stream] ?? 0) + value;
  }
  for (const [id, n] of Object.entries(credit)) {
    const took = Buffer.byteLength(out.delivered[Number(id)] ?? "", "latin1");
    assert.ok(n <= took, `stream ${id} was given ${n} bytes of credit for ${took} bytes read`);
  }
  if (out.protocolError) assert.ok(socket.destroyed, "a protocol error closes the connection");
  return out;
}

function same(got: Outcome, want: Outcome): void {
  if (!want.exact) {
    // Past a GOAWAY that closes the connection, only what came before it is known.
    if (!got.protocolError) assert.equal(want.protocolError, false);
    return;
  }
  // A connection cut for a protocol error drops what it had not written yet: refusals among it.
  const { exact: _a, refused: gr, ...g } = got;
  const { exact: _b, refused: wr, ...w } = want;
  if (!want.protocolError) assert.deepEqual(gr, wr, "refused streams");
  assert.deepEqual(g, w);
}

test("frame headers: decode(encode(h)) is h, and headerError holds the format's rules", (t) => {
  fc.assert(
    fc.property(
      fc.nat({ max: 255 }),
      fc.nat({ max: 255 }),
      fc.nat({ max: 0xffff }),
      fc.nat({ max: 0xffffffff }),
      (type, flags, length, stream) => {
        const b = Buffer.alloc(HEADER + 2);
        assert.equal(encodeHeader(b, 2, type, flags, length, stream), HEADER + 2);
        const h: FrameHeader = { type: -1, flags: -1, length: -1, stream: -1 };
        decodeHeader(b, 2, h);
        assert.deepEqual(h, { type, flags, length, stream });
        const ok =
          type <= 3 &&
          length <= MAX_FRAME_PAYLOAD &&
          (type === 0 ? stream !== 0 : length === 4 && (type === 3) === (stream === 0));
        assert.equal(headerError(h) === undefined, ok, JSON.stringify(h));
      },
    ),
    budget(t, 1000),
  );
});

test("a connection, server or client, reads any input as the specification says, however it is split", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      hostile(frames, 96),
      cuts(4096),
      fc.constantFrom<Role>("server", "client"),
      async (input, offsets, role) => {
        const want = model(input, role);
        same(await run([input], role), want);
        same(await run(splitAt(input, offsets), role), want);
      },
    ),
    asyncBudget(t, 300),
  );
});

test("mux corpus: every saved input, whole and split at every byte", async () => {
  for (const { name, bytes } of corpus("mux"))
    for (const role of ["server", "client"] as const) {
      const want = model(bytes, role);
      for (const pieces of everySplit(bytes, 128)) {
        try {
          same(await run(pieces, role), want);
        } catch (err) {
          const split = pieces.map((p) => p.length).join("+");
          throw new Error(`corpus/mux/${name} (${role}) split as ${split}: ${err}`);
        }
      }
    }
});
