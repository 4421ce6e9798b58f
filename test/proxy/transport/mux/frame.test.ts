/**
 * The mux wire format as a peer sends it, raw, over real loopback sockets: a peer that breaks a rule
 * is cut off with the reason, and frames split anywhere across reads are read whole.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import {
  FIN,
  FRAME,
  INITIAL_WINDOW,
  type MuxConnection,
  type MuxStream,
} from "../../../../proxy/transport/mux/index.js";
import { until } from "../../../support/wait.js";
import { closed, frame, hashBack, muxServer, sha } from "./support.js";

test("a peer that breaks the protocol is cut off with the reason; the server serves the next connection", async (t) => {
  const server = await muxServer(t, hashBack);
  const cases: Array<[string, Buffer, RegExp]> = [
    ["an unknown frame type", frame(9, 0, 1), /unknown frame type 9/],
    ["a frame over 16 KiB", Buffer.from([0, 0, 0xff, 0xff, 0, 0, 0, 1]), /frame of 65535 bytes/],
    ["DATA on stream 0", frame(FRAME.DATA, 0, 0, Buffer.from("x")), /stream 0/],
    ["DATA on an even stream", frame(FRAME.DATA, 0, 2, Buffer.from("x")), /clients open odd/],
    ["WINDOW of 3 bytes", frame(FRAME.WINDOW, 0, 1, Buffer.alloc(3)), /4 expected/],
    ["GOAWAY on a stream", frame(FRAME.GOAWAY, 0, 1, Buffer.alloc(4)), /frame type 3 on stream 1/],
    [
      "a window past 2^31",
      Buffer.concat([
        frame(FRAME.DATA, 0, 1, Buffer.from("x")),
        frame(FRAME.WINDOW, 0, 1, Buffer.from([0x7f, 0xff, 0xff, 0xff])),
      ]),
      /window past/,
    ],
    ["HTTP/1.1 instead of frames", Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), /unknown frame type 71/],
  ];
  for (const [name, bytes, reason] of cases) {
    const raw = net.connect(server.port, "127.0.0.1");
    raw.on("error", () => {});
    raw.on("data", () => {});
    const before = server.errors.length;
    raw.write(bytes);
    await closed(raw);
    assert.equal(server.errors.length, before + 1, name);
    assert.match((server.errors.at(-1) as Error).message, reason, name);
  }

  // A frame header a byte at a time is fine: frames may split anywhere. Each byte is sent once the
  // server has read the one before, so each arrives in a read of its own.
  const accepted = server.conns.length;
  const raw = net.connect(server.port, "127.0.0.1");
  const got: Buffer[] = [];
  raw.on("data", (d: Buffer) => got.push(d));
  await until("the server to accept the connection", () => server.conns.length > accepted);
  const serverSocket = (server.conns.at(-1) as MuxConnection).socket as net.Socket;
  for (const [i, byte] of frame(FRAME.DATA, FIN, 1, Buffer.from("split")).entries()) {
    raw.write(Buffer.from([byte]));
    await until(`the server to read byte ${i}`, () => serverSocket.bytesRead > i);
  }
  await until("the answer on stream 1", () => Buffer.concat(got).length >= 8 + 64);
  const answer = Buffer.concat(got);
  assert.equal(answer.readUInt32BE(4), 1, "answered on stream 1");
  assert.equal(answer.subarray(8, 8 + 64).toString(), sha(Buffer.from("split")));
  raw.destroy();
});

test("a control frame split across reads is read whole while the connection writes its own meanwhile", async (t) => {
  const server = await muxServer(t);
  const raw = net.connect(server.port, "127.0.0.1");
  const got: Buffer[] = [];
  raw.on("data", (d: Buffer) => got.push(d));
  t.after(() => raw.destroy());
  const opening = Buffer.concat([
    frame(FRAME.DATA, 0, 1, Buffer.from("a")),
    frame(FRAME.DATA, 0, 3, Buffer.from("b")),
  ]);
  raw.write(opening);
  await until("the server to accept streams 1 and 3", () => server.streams.length === 2);
  const [one, three] = server.streams as [MuxStream, MuxStream];
  const serverSocket = (server.conns[0] as MuxConnection).socket as net.Socket;
  assert.equal(one.write(Buffer.alloc(INITIAL_WINDOW + 1)), false, "stream 1 wrote past its window");
  const drained = once(one, "drain");
  // Credit of 65536 for stream 1, its payload cut in two; in between, the server resets stream 3.
  const credit = frame(FRAME.WINDOW, 0, 1, Buffer.from([0, 1, 0, 0]));
  raw.write(credit.subarray(0, 10));
  await until(
    "the server to read the credit's first half",
    () => serverSocket.bytesRead === opening.length + 10,
  );
  three.destroy();
  const reset = frame(FRAME.RESET, 0, 3, Buffer.alloc(4)).subarray(0, 8);
  await until("the reset of stream 3 to arrive", () => Buffer.concat(got).includes(reset));
  raw.write(credit.subarray(10));
  await drained;
  assert.deepEqual(server.errors, []);
});

test("a peer that sends past a stalled stream's window is cut off: what a stalled reader holds stays bounded", async (t) => {
  const server = await muxServer(t, (s) => s.pause());
  const raw = net.connect(server.port, "127.0.0.1");
  raw.on("error", () => {});
  raw.on("data", () => {});
  const frames = Array.from({ length: INITIAL_WINDOW / 16384 + 1 }, () =>
    frame(FRAME.DATA, 0, 1, Buffer.alloc(16384)),
  );
  const gone = closed(raw);
  raw.write(Buffer.concat(frames));
  await gone;
  assert.equal(server.errors.length, 1);
  assert.match((server.errors[0] as Error).message, /stream 1 sent past its window/);
});
