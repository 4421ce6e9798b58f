/**
 * The byte pipe under opaque TCP and HTTP/1.1 Upgrade, on real loopback sockets: a dialled socket
 * read into its own buffer, bytes that arrive before the splice, backpressure both ways.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { splice } from "../../../proxy/transport/opaque.js";
import { SplicedReads } from "../../../proxy/transport/reads.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

test("a dialled socket read into its own buffer: early bytes wait for the splice, all arrive in order", async (t) => {
  const greeting = Buffer.concat([Buffer.from("HELLO\n"), randomBytes(64 * 1024)]);
  const reply = randomBytes(2 * 1024 * 1024);
  const upload = randomBytes(1024 * 1024);
  const uploaded: Buffer[] = [];
  let uploadedBytes = 0;
  // The origin speaks first, then answers once it has the whole upload.
  const origin = net.createServer((s) => {
    s.write(greeting);
    s.on("data", (d: Buffer) => {
      uploaded.push(d);
      uploadedBytes += d.length;
      if (uploadedBytes === upload.length) s.end(reply);
    });
  });
  const originPort = await listen(origin);
  t.after(() => origin.close());

  const reads = new SplicedReads();
  const dialled = net.connect({ host: "127.0.0.1", port: originPort, onread: reads });
  await once(dialled, "connect");
  await delay(200);
  // One read landed and reading stopped: the rest of the greeting waits in the kernel.
  assert.ok(dialled.bytesRead > 0, "the greeting's first bytes were read");
  assert.ok(dialled.bytesRead <= reads.buffer.length, `read ${dialled.bytesRead} bytes before the splice`);

  const front = net.createServer((accepted) => splice(accepted, dialled, { dialled: reads }));
  const frontPort = await listen(front);
  t.after(() => front.close());

  const client = net.connect({ host: "127.0.0.1", port: frontPort });
  client.pause();
  client.write(upload);
  // Nothing is read for a while, so the pipe meets backpressure on the way back.
  await delay(300);
  const received: Buffer[] = [];
  client.on("data", (d: Buffer) => received.push(d));
  client.resume();
  await once(client, "end");
  client.end();

  assert.equal(sha(Buffer.concat(received)), sha(Buffer.concat([greeting, reply])));
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
