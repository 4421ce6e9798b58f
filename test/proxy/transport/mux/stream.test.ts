/**
 * Mux streams over real loopback sockets: bytes both ways at once and half-closed, per-stream flow
 * control that holds up only the stream whose reader stopped, and resets.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { test } from "node:test";
import { INITIAL_WINDOW, type MuxResetError } from "../../../../proxy/transport/mux/index.js";
import { collect, hashBack, muxClient, muxServer, sha } from "./support.js";

test("streams carry bytes both ways at once, each intact, and a half-closed stream still gets its answer", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  // More than a window each, so every stream runs on credit the receiver sends as it reads.
  const uploads = Array.from({ length: 24 }, (_, i) => randomBytes(INITIAL_WINDOW * 2 + i * 1000));
  const answers = uploads.map((upload) => {
    const stream = client.open();
    const answer = collect(stream);
    stream.end(upload);
    return answer;
  });
  const got = await Promise.all(answers);
  for (const [i, upload] of uploads.entries()) assert.equal(got[i]?.toString(), sha(upload), `stream ${i}`);
  assert.equal(sockets.length, 1, "every stream rode one connection");
  assert.equal(server.streams.length, uploads.length);
  assert.deepEqual(server.errors, []);
});

test("a reader that stops holds up only its own stream: its writer waits for credit, the others go on", async (t) => {
  const server = await muxServer(t);
  const { client } = muxClient(t, server.port);
  const slow = client.open();
  slow.write("x");
  const slowServer = await server.next();
  slowServer.pause();
  const slowRead = collect(slowServer);

  // The writer may send a window's worth; then write() says wait, and no credit (so no drain) comes
  // while stalled.
  const big = randomBytes(INITIAL_WINDOW * 4);
  let drained = false;
  slow.on("drain", () => {
    drained = true;
  });
  const credits: number[] = [];
  const credit = slow.credit.bind(slow);
  slow.credit = (n) => {
    credits.push(n);
    credit(n);
  };
  assert.equal(slow.write(big), false, "write() says wait once past the window");
  slow.end();

  // Meanwhile another stream on the same connection is served.
  const other = client.open();
  const otherAnswer = collect(other);
  other.end("hello");
  const otherServer = await server.next();
  const otherRead = await collect(otherServer);
  assert.equal(otherRead.toString(), "hello");
  otherServer.end("world");
  assert.equal((await otherAnswer).toString(), "world");
  // The server read the stalled stream's bytes before the other's request: credit it sent for them
  // would have reached the writer before this answer, on the same connection.
  assert.deepEqual(credits, [], "no credit while the reader is stalled");
  assert.equal(drained, false, "no drain while the reader is stalled");

  // The reader resumes: credit flows back and every byte arrives, in order.
  slowServer.resume();
  const all = await slowRead;
  assert.equal(sha(all), sha(Buffer.concat([Buffer.from("x"), big])));
  assert.equal(drained, true, "the writer was told to go on");
  assert.ok(credits.length > 0, "credit came once the reader resumed");
});

test("destroying a stream resets it at the peer; the connection's other streams carry on", async (t) => {
  const server = await muxServer(t);
  const { client } = muxClient(t, server.port);
  const a = client.open();
  a.write("a");
  const aServer = await server.next();
  const b = client.open();
  b.write("b");
  const bServer = await server.next();

  const closed = new Promise((resolve) => aServer.once("close", resolve));
  const failed = once(aServer, "error");
  a.destroy();
  const [err] = (await failed) as [MuxResetError];
  await closed;
  assert.match(err.message, /reset/);
  assert.equal(err.refused, false, "a cancelled stream may have been processed");
  assert.equal(aServer.destroyed, true);

  const bAnswer = collect(b);
  bServer.end("still here");
  assert.equal((await bAnswer).toString(), "still here");
});
