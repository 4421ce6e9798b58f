/**
 * Protocol detection on the outbound listener's fresh connections, over real loopback sockets: what
 * the first bytes say, and a client that ends its side before they say anything.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { type TestContext, test } from "node:test";
import { type Detected, detect } from "../../../proxy/transport/detect.js";

/** Accepts one connection on a half-open listener, as the outbound's, and detects its protocol. */
async function detectOne(t: TestContext, client: (socket: net.Socket) => void): Promise<Detected> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const detected = new Promise<Detected>((resolve) =>
    server.once("connection", (socket: net.Socket) => {
      t.after(() => socket.destroy());
      void detect(socket, 5000).then(resolve);
    }),
  );
  const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1", () => client(socket));
  socket.on("error", () => {});
  t.after(() => socket.destroy());
  return detected;
}

test("the first bytes say HTTP/1.x or HTTP/2, and are kept for the protocol's server", async (t) => {
  const h1 = await detectOne(t, (s) => s.write("GET / HTTP/1.1\r\n"));
  assert.equal(h1.protocol, "http1");
  assert.match(h1.head.toString("latin1"), /^GET \//);
  const h2 = await detectOne(t, (s) => s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  assert.equal(h2.protocol, "http2");
  const other = await detectOne(t, (s) => s.write(Buffer.from([0x16, 0x03, 0x01, 0x00])));
  assert.equal(other.protocol, "unknown");
});

test("a client that ends its side before its bytes say anything is done with at once, not at the timeout", async (t) => {
  const silent = await detectOne(t, (s) => s.end());
  assert.equal(silent.protocol, "closed");
  const partial = await detectOne(t, (s) => s.end("GE"));
  assert.equal(partial.protocol, "closed");
  assert.equal(partial.head.toString("latin1"), "GE");
});
