/**
 * The opaque stream header read off an accepted socket reading into its own buffer, on real
 * loopback sockets: however the header arrives, the port comes out and the bytes after it wait for
 * the splice, in order; a wrong, missing, late or cut header is named.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { PassThrough } from "node:stream";
import { type TestContext, test } from "node:test";
import { encodeOpaqueHeader, readOpaqueHeader } from "../../../proxy/transport/opaque.js";
import { readInto, SplicedReads } from "../../../proxy/transport/reads.js";
import { until } from "../../support/wait.js";

interface Accepted {
  socket: net.Socket;
  reads: SplicedReads;
  header: Promise<number | string>;
}

/**
 * A listener that reads the header off each connection; resolves the first one's, and a client.
 * The header's deadline is one no test reaches unless it means to.
 */
async function headerServer(t: TestContext, timeoutMs = 60_000) {
  let first: (a: Accepted) => void = () => {};
  const accepted = new Promise<Accepted>((resolve) => {
    first = resolve;
  });
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const reads = new SplicedReads();
    readInto(socket, reads);
    first({ socket, reads, header: readOpaqueHeader(socket, reads, timeoutMs) });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  t.after(() => client.destroy());
  await once(client, "connect");
  return { client, accepted: await accepted };
}

/** What `into` forwards from the accepted socket, until it ends. */
async function spliced(a: Accepted): Promise<string> {
  const chunks: Buffer[] = [];
  const to = new PassThrough();
  to.on("data", (c: Buffer) => chunks.push(c));
  const ended = once(to, "end");
  a.reads.into(a.socket, to);
  await ended;
  return Buffer.concat(chunks).toString("latin1");
}

test("a header sent a byte at a time: the port, then the bytes after it, in order", async (t) => {
  const { client, accepted } = await headerServer(t);
  // Each byte goes once the one before was read, so each arrives in a read of its own.
  for (const [i, byte] of encodeOpaqueHeader(5432).entries()) {
    client.write(Buffer.from([byte]));
    await until(`byte ${i} of the header to be read`, () => accepted.socket.bytesRead > i);
  }
  assert.equal(await accepted.header, 5432);
  client.end("after the header");
  assert.equal(await spliced(accepted), "after the header");
});

test("a header and its payload in one write: the payload waits for the splice, whole", async (t) => {
  const { client, accepted } = await headerServer(t);
  const payload = "x".repeat(40_000);
  client.end(Buffer.concat([encodeOpaqueHeader(8080), Buffer.from(payload)]));
  assert.equal(await accepted.header, 8080);
  // Reading stopped at the header: nothing is lost while the other side is being dialled, however
  // long that takes. The splice starts once the client has handed its last byte to the kernel.
  await until("the client to send all it wrote", () => client.writableFinished);
  assert.equal(await spliced(accepted), payload);
});

test("a wrong magic, port 0, no header in time, and a close before the header are each named", async (t) => {
  const wrong = await headerServer(t);
  wrong.client.write("GET / HTTP/1.1\r\n\r\n");
  assert.equal(await wrong.accepted.header, "bad magic");

  const zero = await headerServer(t);
  zero.client.write(Buffer.from([0x54, 0x52, 0x4c, 0x31, 0, 0]));
  assert.equal(await zero.accepted.header, "port 0");

  const late = await headerServer(t, 200);
  late.client.write("TR");
  assert.equal(await late.accepted.header, "no header in time");

  const cut = await headerServer(t);
  cut.client.end("TRL");
  cut.accepted.socket.on("end", () => cut.accepted.socket.destroy());
  assert.equal(await cut.accepted.header, "closed before the header");
});
