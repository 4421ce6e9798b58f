/**
 * The byte pipe under opaque TCP and HTTP/1.1 Upgrade, on real loopback sockets: a dialled socket
 * read into its own buffer, bytes that arrive before the splice, backpressure that reaches the origin.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import { splice } from "../../../proxy/transport/opaque.js";
import { READ_BUFFER_BYTES, SplicedReads } from "../../../proxy/transport/reads.js";
import { until } from "../../support/wait.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

test("a dialled socket read into its own buffer: early bytes wait for the splice, all arrive in order", async (t) => {
  const greeting = Buffer.concat([Buffer.from("HELLO\n"), randomBytes(64 * 1024)]);
  const upload = randomBytes(1024 * 1024);
  const uploaded: Buffer[] = [];
  let uploadedBytes = 0;
  // The origin speaks first, then, once it has the whole upload, answers until the test has seen
  // the whole way back full (a bounded answer: however large the kernel's buffers, it meets them).
  const replied = createHash("sha256").update(greeting);
  let originSide: net.Socket | undefined;
  let full = false;
  const answer = async (s: net.Socket) => {
    for (let chunks = 0; !full && chunks < 4096; chunks++) {
      const chunk = randomBytes(64 * 1024);
      replied.update(chunk);
      if (!s.write(chunk)) await once(s, "drain");
    }
    s.end();
  };
  const origin = net.createServer((s) => {
    originSide = s;
    s.write(greeting);
    s.on("data", (d: Buffer) => {
      uploaded.push(d);
      uploadedBytes += d.length;
      if (uploadedBytes === upload.length) void answer(s);
    });
  });
  const originPort = await listen(origin);
  t.after(() => origin.close());

  const reads = new SplicedReads();
  const dialled = net.connect({ host: "127.0.0.1", port: originPort, onread: reads });
  await once(dialled, "connect");
  await until("the greeting's first bytes to be read", () => dialled.bytesRead > 0);
  // One read landed and reading stopped: the rest of the greeting waits in the kernel. Reading on
  // could only add bytes, so a slow machine may let this pass but never makes it fail.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(dialled.bytesRead <= reads.buffer.length, `read ${dialled.bytesRead} bytes before the splice`);

  let accepted: net.Socket | undefined;
  const front = net.createServer((socket) => {
    accepted = socket;
    splice(socket, dialled, { dialled: reads });
  });
  const frontPort = await listen(front);
  t.after(() => front.close());

  const client = net.connect({ host: "127.0.0.1", port: frontPort });
  t.after(() => {
    full = true;
    client.destroy();
    dialled.destroy();
  });
  client.pause();
  client.write(upload);
  // The client reads nothing until the answer has filled the way back: the splice's writes to the
  // client wait, it stops reading the origin, and so the origin's own writes wait too.
  await until(
    "the answer to fill the way back from the origin to the client",
    () => accepted?.writableNeedDrain === true && originSide?.writableNeedDrain === true,
  );
  full = true;
  const waiting = accepted?.writableLength ?? 0;
  assert.ok(waiting <= 4 * READ_BUFFER_BYTES, `the splice held ${waiting} bytes for the client, unbounded`);
  let drained = false;
  accepted?.once("drain", () => {
    drained = true;
  });
  const received = createHash("sha256");
  client.on("data", (d: Buffer) => received.update(d));
  client.resume();
  await once(client, "end");
  client.end();

  assert.equal(drained, true, "the way back went on once the client read");
  assert.equal(received.digest("hex"), replied.digest("hex"), "the greeting and the answer, in order");
  assert.equal(sha(Buffer.concat(uploaded)), sha(upload));
});

test("either side closing ends the other", async (t) => {
  const origin = net.createServer((s) => s.on("data", () => s.destroy()));
  const originPort = await listen(origin);
  t.after(() => origin.close());
  const reads = new SplicedReads();
  const dialled = net.connect({ host: "127.0.0.1", port: originPort, onread: reads });
  await once(dialled, "connect");
  const front = net.createServer((accepted) => splice(accepted, dialled, { dialled: reads }));
  const frontPort = await listen(front);
  t.after(() => front.close());
  const client = net.connect({ host: "127.0.0.1", port: frontPort });
  client.on("data", () => {});
  client.write("bye");
  await once(client, "close");
  // Half-open: the dialled side's write half ends once the client's end has crossed, then it closes.
  if (!dialled.destroyed) await once(dialled, "close");
  assert.ok(dialled.writableEnded || dialled.destroyed, "the dialled side was ended too");
});
