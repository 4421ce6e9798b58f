/**
 * Reading accepted sockets into a buffer of their own, on real loopback sockets, plain and TLS:
 * every byte arrives in order through the one buffer, returning false stops reading until resume,
 * the peer's end still ends the socket, and a socket with bytes already buffered is read as a stream.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import tls from "node:tls";
import { OwnReads, readInto } from "../../../proxy/transport/reads.js";
import { makeLoopbackServerCert } from "../../support/pki.js";
import { until } from "../../support/wait.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Collects what a socket reads into `reads`, noting whether every read landed in its buffer. */
function collect(reads: OwnReads) {
  const got: Buffer[] = [];
  let foreign = 0;
  reads.sink = (bytes, buffer) => {
    if (buffer.buffer !== reads.buffer.buffer) foreign++;
    got.push(Buffer.from(buffer.subarray(0, bytes)));
    return true;
  };
  return { got, foreign: () => foreign };
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

test("an accepted plain socket reads into its own buffer: all bytes in order, then the end", async (t) => {
  const payload = randomBytes(3 * 1024 * 1024);
  const reads = new OwnReads(() => true);
  const seen = collect(reads);
  const ended = new Promise<boolean>((resolve) => {
    const server = net.createServer((socket) => {
      const own = readInto(socket, reads);
      socket.once("end", () => resolve(own));
      socket.resume();
    });
    t.after(() => server.close());
    void listen(server).then((port) => net.connect({ host: "127.0.0.1", port }).end(payload));
  });
  assert.equal(await ended, true, "this Node lets an accepted socket read into a buffer");
  assert.equal(seen.foreign(), 0);
  assert.equal(sha(Buffer.concat(seen.got)), sha(payload));
});

test("an accepted TLS socket reads into its own buffer, and returning false stops reading until resume", async (t) => {
  const { caPem, certPem, keyPem } = await makeLoopbackServerCert();
  const payload = randomBytes(2 * 1024 * 1024);
  const reads = new OwnReads(() => true);
  const got: Buffer[] = [];
  let stopped = false;
  let accepted: tls.TLSSocket | undefined;
  let own = false;
  const server = tls.createServer({ cert: certPem, key: keyPem, minVersion: "TLSv1.3" }, (socket) => {
    accepted = socket;
    own = readInto(socket, reads);
    reads.sink = (bytes, buffer) => {
      assert.equal(buffer.buffer, reads.buffer.buffer);
      got.push(Buffer.from(buffer.subarray(0, bytes)));
      // The first read stops reading: the rest waits until the socket is resumed.
      if (!stopped) {
        stopped = true;
        return false;
      }
      return true;
    };
    socket.resume();
  });
  t.after(() => server.close());
  const port = await listen(server);
  const client = tls.connect({ host: "127.0.0.1", port, ca: caPem, servername: "localhost" });
  await once(client, "secureConnect");
  t.after(() => client.destroy());
  client.end(payload);
  await until("the first read", () => stopped);
  assert.equal(own, true, "this Node lets an accepted TLS socket read into a buffer");
  // What TLS had already decrypted lands in the same turn as the read that stopped; then nothing
  // more until the socket resumes. More reads are all a broken stop could add, so a slow machine may
  // let a broken stop pass this short window but never fails a working one.
  await new Promise((resolve) => setImmediate(resolve));
  const readsWhenStopped = got.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(got.length, readsWhenStopped, "no reads while stopped");
  assert.ok(Buffer.concat(got).length < payload.length, "reading stopped before the end");
  assert.ok(accepted);
  const ended = once(accepted, "end");
  accepted.resume();
  await ended;
  assert.equal(sha(Buffer.concat(got)), sha(payload));
  accepted.destroy();
});

test("a socket with bytes already buffered is read as a stream, with the same callback", async (t) => {
  const reads = new OwnReads(() => true);
  const seen = collect(reads);
  // The client sends its second part once the server reads through the callback: both parts go to it.
  let reading: () => void = () => {};
  const set = new Promise<void>((resolve) => {
    reading = resolve;
  });
  const result = new Promise<{ own: boolean; all: Buffer }>((resolve) => {
    const server = net.createServer((socket) => {
      socket.pause();
      socket.once("readable", () => {
        const own = readInto(socket, reads);
        socket.once("end", () => resolve({ own, all: Buffer.concat(seen.got) }));
        socket.resume();
        reading();
      });
    });
    t.after(() => server.close());
    void listen(server).then((port) => {
      const client = net.connect({ host: "127.0.0.1", port });
      client.write("first ");
      void set.then(() => client.end("second"));
    });
  });
  const { own, all } = await result;
  assert.equal(own, false);
  assert.equal(all.toString(), "first second");
});
