/**
 * Fuzzing protocol detection (proxy/transport/detect.ts), what an app's first bytes on the outbound
 * listener meet: whatever arrives, split however, detection decides as soon as the bytes so far allow,
 * decides what the rules below (written from RFC 9113 §3.4 and RFC 9112 §3) say, and hands on exactly
 * the bytes it read.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { detect, type Protocol } from "../../proxy/transport/detect.js";
import { asyncBudget, corpus, cuts, everySplit, hostile, splitAt } from "./support.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

/**
 * What the bytes read so far say: HTTP/2 once they are the whole preface, HTTP/1.x once a method token
 * of at most 20 characters is followed by a space, neither once they can no longer be either. Still
 * open: undefined, or "closed" when the client ended there.
 */
function reference(bytes: Buffer, ended: boolean): Protocol | undefined {
  const n = Math.min(bytes.length, PREFACE.length);
  if (bytes.subarray(0, n).equals(PREFACE.subarray(0, n))) {
    if (bytes.length >= PREFACE.length) return "http2";
    return ended ? "closed" : undefined;
  }
  let i = 0;
  while (i < bytes.length && TCHAR.test(String.fromCharCode(bytes[i] as number))) i++;
  if (i < bytes.length) return bytes[i] === 0x20 && i >= 1 && i <= 20 ? "http1" : "unknown";
  // Token characters only: past 24 of them, no method can be that long.
  if (bytes.length >= PREFACE.length) return "unknown";
  return ended ? "closed" : undefined;
}

async function run(pieces: Buffer[]): Promise<{ protocol: Protocol; head: Buffer }> {
  const socket = Object.assign(new EventEmitter(), { pause() {} });
  const detected = detect(socket as unknown as Socket, 60_000);
  for (const piece of pieces) if (piece.length > 0) socket.emit("data", piece);
  socket.emit("end");
  return detected;
}

/** The expected outcome: the first piece after which the reference decides, and the bytes up to it. */
function expected(pieces: Buffer[]): { protocol: Protocol; head: Buffer } {
  let seen = Buffer.alloc(0);
  for (const piece of pieces) {
    if (piece.length === 0) continue;
    seen = Buffer.concat([seen, piece]);
    const p = reference(seen, false);
    if (p) return { protocol: p, head: seen };
  }
  return { protocol: reference(seen, true) as Protocol, head: seen };
}

const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,24}$/);
const valid = fc
  .oneof(
    fc.tuple(token, fc.constantFrom(" / HTTP/1.1\r\n", " ", "/", "\t")).map(([m, rest]) => m + rest),
    fc.constantFrom("GET / HTTP/1.1\r\nhost: a\r\n\r\n", PREFACE.toString("latin1"), "PRI * HTTP/1.1\r\n"),
  )
  .map((s) => Buffer.from(s, "latin1"));

test("detection decides what the bytes say, as soon as they say it, however they are split", async (t) => {
  await fc.assert(
    fc.asyncProperty(hostile(valid, 48), cuts(48), async (input, offsets) => {
      const pieces = splitAt(input, offsets);
      const got = await run(pieces);
      const want = expected(pieces);
      assert.equal(got.protocol, want.protocol);
      assert.deepEqual(got.head, want.head, "the bytes handed on are those read, in order");
    }),
    asyncBudget(t, 1000),
  );
});

test("detect corpus: every saved input, whole and split at every byte", async () => {
  for (const { name, bytes } of corpus("detect")) {
    for (const pieces of everySplit(bytes)) {
      const got = await run(pieces);
      const want = expected(pieces);
      assert.equal(got.protocol, want.protocol, `${name}: ${pieces.map((p) => p.length).join("+")}`);
      assert.deepEqual(got.head, want.head, name);
    }
  }
});
