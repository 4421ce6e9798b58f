/**
 * A mux connection over real loopback sockets: when its writes leave (at once alone, batched with
 * other exchanges under way), how many streams it takes, and its idle and open timeouts.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import {
  MAX_STREAMS,
  MUX_READY,
  type MuxResetError,
  type MuxStream,
} from "../../../../proxy/transport/mux/index.js";
import { closed, collect, hashBack, muxClient, muxServer, sha } from "./support.js";

test("a lone exchange's write leaves at once; with others under way, a turn's writes leave in one", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  const lone = client.open();
  await once(lone, MUX_READY);
  const socket = sockets[0] as net.Socket;
  let writes = 0;
  const write = socket.write.bind(socket);
  socket.write = ((...args: Parameters<typeof write>) => {
    writes++;
    return write(...args);
  }) as typeof socket.write;

  // Nothing else under way: the request leaves once the code writing it is done, not a turn later.
  const loneAnswer = collect(lone);
  lone.end("alone");
  await new Promise((resolve) => process.nextTick(resolve));
  assert.equal(writes, 1, "the lone request went out before the event loop's next phase");
  assert.equal((await loneAnswer).toString(), sha(Buffer.from("alone")));

  // One exchange under way: requests written by separate callbacks in one turn leave together, a
  // batch of at most eight frames at a time (each request here is two: its bytes, then its end).
  const burst = async (n: number): Promise<number> => {
    // What was written before leaves by the next tick (one exchange under way at most): counting
    // starts once it is out.
    await new Promise((resolve) => setImmediate(resolve));
    writes = 0;
    const streams = Array.from({ length: n }, () => client.open());
    const answers = streams.map((s) => collect(s));
    for (const [i, s] of streams.entries()) setImmediate(() => s.end(`request ${i}`));
    const got = await Promise.all(answers);
    for (const [i, answer] of got.entries())
      assert.equal(answer.toString(), sha(Buffer.from(`request ${i}`)));
    return writes;
  };
  const waiting = client.open();
  waiting.write("waiting for an answer");
  assert.equal(await burst(3), 1, "three requests from three callbacks went out in one write");
  assert.equal(await burst(12), 3, "twelve requests (24 frames) went out in three writes of eight frames");
  waiting.end();
});

test("a server refuses streams past its limit; the ones within it are served", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client } = muxClient(t, server.port);
  const streams = Array.from({ length: MAX_STREAMS + 1 }, () => client.open());
  for (const s of streams) s.write("x");
  const refused = streams.at(-1) as MuxStream;
  const [err] = (await once(refused, "error")) as [MuxResetError];
  assert.match(err.message, /refused/);
  assert.equal(err.refused, true, "a refused stream is known to be unprocessed");

  // The server read the streams in order: a reset of one within the limit would have come first.
  const within = streams.slice(0, -1);
  assert.ok(
    within.every((s) => !s.destroyed),
    "no stream within the limit was reset",
  );
  // And each gets its answer.
  const answers = within.map((s) => collect(s));
  for (const s of within) s.end();
  for (const answer of await Promise.all(answers)) assert.equal(answer.toString(), sha(Buffer.from("x")));
  assert.equal(server.streams.length, MAX_STREAMS);
});

test("a server's own lower limit refuses, counts, and cuts off a peer that keeps opening refused streams", async (t) => {
  let refused = 0;
  const cutOffs: string[] = [];
  const server = await muxServer(t, hashBack, {
    maxStreams: 4,
    onRefused: () => refused++,
    onCutOff: (reason) => cutOffs.push(reason),
  });
  const { client } = muxClient(t, server.port);
  const held = Array.from({ length: 4 }, () => client.open());
  for (const s of held) s.write("x");
  await new Promise<void>((resolve) => {
    const check = () => (server.streams.length === 4 ? resolve() : setTimeout(check, 5));
    check();
  });
  // Refusals, then a stream finishing: the run of refusals starts again.
  const refuse = async (n: number) => {
    const extra = Array.from({ length: n }, () => client.open());
    const errors = extra.map((s) => once(s, "error"));
    for (const s of extra) s.write("x");
    await Promise.all(errors);
  };
  await refuse(3);
  assert.equal(refused, 3);
  const first = held[0] as MuxStream;
  const answered = collect(first);
  first.end();
  await answered;
  await new Promise<void>((resolve) => {
    const check = () => (server.conns[0]?.streams.size === 3 ? resolve() : setTimeout(check, 5));
    check();
  });
  const again = client.open();
  again.write("x");
  // Past the protocol's limit of refusals in a row (not the lower configured one), the peer is cut off.
  await refuse(MAX_STREAMS);
  assert.deepEqual(cutOffs, [], `${MAX_STREAMS} refusals in a row are within the limit`);
  await refuse(1);
  assert.deepEqual(cutOffs, ["refused_streams"]);
  assert.equal(refused, 3 + MAX_STREAMS + 1);
  assert.equal(server.conns[0]?.closed, true, "the server cut the connection off");
  assert.match(server.errors[0]?.message ?? "", /past the limit/);
});

test("a connection without streams goes away after its idle timeout, and one that opens none after its open timeout", async (t) => {
  // The open timeout covers the start, so only the idle timeout after the stream can close it: a busy
  // machine's pause before the first frame is not idleness.
  const server = await muxServer(t, hashBack, { idleTimeoutMs: 200, openTimeoutMs: 600_000 });
  const { client, sockets } = muxClient(t, server.port);
  const s = client.open();
  const answer = collect(s);
  s.end("x");
  await answer;
  await once(sockets[0] as net.Socket, "close");

  // A connection that never opens a stream: only the open timeout can close it before the test's own.
  const strict = await muxServer(t, hashBack, { idleTimeoutMs: 600_000, openTimeoutMs: 100 });
  const raw = net.connect(strict.port, "127.0.0.1");
  raw.on("error", () => {});
  raw.on("data", () => {});
  await closed(raw);
});
