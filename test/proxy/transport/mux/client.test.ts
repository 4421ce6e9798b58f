/**
 * The mux client over real loopback sockets: a new connection once the old one goes away or is lost,
 * and a request on a stream the peer refused sent again on it by the HTTP/1.1 pool.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import { MuxConnection } from "../../../../proxy/transport/mux/index.js";
import { readInto } from "../../../../proxy/transport/reads.js";
import { until } from "../../../support/wait.js";
import { collect, hashBack, muxClient, muxPool, muxServer, poolRequest, sha } from "./support.js";

test("GOAWAY: open streams finish, new ones go on a new connection, the old one closes", async (t) => {
  const server = await muxServer(t, hashBack);
  const { client, sockets } = muxClient(t, server.port);
  const before = client.open();
  before.write("before");
  await server.next();
  (server.conns[0] as MuxConnection).goAway();
  const first = before.conn as MuxConnection;
  await until("the client to read the server's GOAWAY", () => first.goingAway);

  const after = client.open();
  const afterAnswer = collect(after);
  after.end("after");
  assert.equal((await afterAnswer).toString(), sha(Buffer.from("after")));
  assert.equal(sockets.length, 2, "the stream opened after GOAWAY dialled a new connection");

  const beforeAnswer = collect(before);
  before.end();
  assert.equal((await beforeAnswer).toString(), sha(Buffer.from("before")), "the open stream finished");
  await once(sockets[0] as net.Socket, "close");
});

test("a lost connection closes its streams with the error; the client dials anew", async (t) => {
  const server = await muxServer(t);
  const { client, sockets } = muxClient(t, server.port);
  const stream = client.open();
  stream.write("hi");
  await server.next();
  const failed = once(stream, "error");
  (server.conns[0] as MuxConnection).socket?.destroy();
  const [err] = (await failed) as [Error];
  assert.match(err.message, /closed|reset|ECONNRESET/);

  const again = client.open();
  again.write("again");
  const s = await server.next();
  assert.equal(sockets.length, 2);
  const got = collect(s);
  again.end();
  assert.equal((await got).toString(), "again");
});

test("a request on a stream the peer refused is sent again on a new connection: the pool retries it", async (t) => {
  let connections = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    const conn = new MuxConnection({
      role: "server",
      idleTimeoutMs: 60_000,
      onStream: (s) => {
        let got = "";
        readInto(s, {
          buffer: Buffer.alloc(0),
          callback: (bytes, buffer) => {
            got += buffer.subarray(0, bytes).toString("latin1");
            if (got.includes("\r\n\r\n")) s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            return true;
          },
        });
      },
    });
    conn.attach(socket);
    readInto(socket, conn.reads);
    // The first connection goes away before it reads a byte: its first stream is refused.
    if (connections === 1) conn.goAway();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const pool = muxPool(t, (server.address() as net.AddressInfo).port, "the mux server");
  const res = await poolRequest(pool);
  assert.equal(res.status, 200);
  assert.equal(connections, 2, "sent again on a second connection");
});
