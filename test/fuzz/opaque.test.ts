/**
 * Fuzzing the opaque stream header (proxy/transport/opaque.ts), what a peer proxy sends first on an
 * opaque mTLS stream: however its bytes are split across reads, the reader names the port exactly when
 * the first six bytes are `TRL1` and a port other than 0, refuses everything else, and leaves every
 * byte after the header, in order, for the splice.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { test } from "node:test";
import fc from "fast-check";
import { encodeOpaqueHeader, OPAQUE_HEADER_BYTES, readOpaqueHeader } from "../../proxy/transport/opaque.js";
import { SplicedReads } from "../../proxy/transport/reads.js";
import { asyncBudget, corpus, cuts, everySplit, hostile, splitAt } from "./support.js";

/** What the header says, by the format alone: the port, or why there is none. */
function expected(input: Buffer): { result: number | string; rest: Buffer } {
  if (input.length < OPAQUE_HEADER_BYTES) return { result: "closed before the header", rest: input };
  if (input.subarray(0, 4).toString("latin1") !== "TRL1") return { result: "bad magic", rest: input };
  const port = input.readUInt16BE(4);
  return { result: port === 0 ? "port 0" : port, rest: input.subarray(OPAQUE_HEADER_BYTES) };
}

/** Reads the header off a socket that delivers `pieces`, then closes; the result and what is held. */
async function read(pieces: Buffer[]): Promise<{ result: number | string; rest: Buffer }> {
  const socket = Object.assign(new EventEmitter(), { resume() {} });
  const reads = new SplicedReads();
  const header = readOpaqueHeader(socket as unknown as Duplex, reads, 60_000);
  for (const piece of pieces) {
    if (piece.length === 0) continue;
    // Each read lands at the start of the socket's own buffer, which the next read overwrites.
    const n = piece.copy(reads.buffer);
    reads.callback(n, reads.buffer);
    reads.buffer.fill(0xee, 0, n);
  }
  socket.emit("close");
  const result = await header;
  return { result, rest: Buffer.from(reads.keep(Buffer.alloc(0))) };
}

const valid = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 64 }))
  .map(([port, after]) => Buffer.concat([encodeOpaqueHeader(port), after]));

test("encode then read is the identity for every port", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 0xffff }), cuts(8), async (port, offsets) => {
      const got = await read(splitAt(encodeOpaqueHeader(port), offsets));
      assert.equal(got.result, port);
      assert.equal(got.rest.length, 0);
    }),
    asyncBudget(t, 500),
  );
});

test("any input, split anywhere: the port only from a well-formed header, every later byte kept", async (t) => {
  await fc.assert(
    fc.asyncProperty(hostile(valid, 32), cuts(80), async (input, offsets) => {
      const want = expected(input);
      const got = await read(splitAt(input, offsets));
      assert.equal(got.result, want.result);
      // Bytes after a refused header are of no use; after a good one they are the stream's first.
      if (typeof want.result === "number") assert.deepEqual(got.rest, want.rest);
    }),
    asyncBudget(t, 500),
  );
});

test("opaque corpus: every saved input, whole and split at every byte", async () => {
  for (const { name, bytes } of corpus("opaque")) {
    const want = expected(bytes);
    for (const pieces of everySplit(bytes)) {
      const got = await read(pieces);
      assert.equal(got.result, want.result, name);
      if (typeof want.result === "number") assert.deepEqual(got.rest, want.rest, name);
    }
  }
});
