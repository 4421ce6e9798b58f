// Every listener of the proxy meets abusive clients: garbage bytes (random binary, a text line that is
// not HTTP), a header over 16 KiB, and a client that sends its headers a byte at a time. Outbound
// (:4140) and admin (:4191) get them in plaintext; inbound (:4143) gets garbage instead of a TLS
// ClientHello, and garbage after a valid mTLS handshake (ALPN h2, the opaque protocol with a bad
// header, and the mux protocol with broken frames or broken requests inside a stream). Each abusive
// connection is closed or answered 4xx, and after each one the proxies still carry a request through
// the mesh and answer /live.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type TestContext, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type tls from "node:tls";
import { ALPN_MUX } from "../../proxy/tls/index.js";
import { MuxConnection } from "../../proxy/transport/mux/index.js";
import { readInto } from "../../proxy/transport/reads.js";
import { meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { connect, connectMtls } from "../support/sockets.js";

/** The detection/header timeout the proxies run with, so slow clients are cut quickly. */
const DETECT_TIMEOUT_MS = 1000;
/** Longer than any timeout the proxy applies to an abusive client: reaching it fails the test. */
const DEADLINE_MS = 15_000;
const BIG_HEADER = "x".repeat(20 * 1024);

/** What the proxy did to an abusive connection. */
type Outcome = { closed: true; status?: number } | { closed: false; status: number };

/**
 * Runs `abuse` on a connected socket and resolves once the proxy closed it or answered with a status
 * line, whichever comes first; fails if neither happened by DEADLINE_MS.
 */
function expectRefused(
  socket: Duplex,
  abuse: (socket: Duplex, done: () => boolean) => unknown,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let received = "";
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`the proxy neither closed nor answered within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(received);
      if (status) settle({ closed: false, status: Number(status[1]) });
    });
    socket.on("error", () => {}); // a reset is one way of being closed
    socket.once("close", () => {
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(received);
      settle(status ? { closed: true, status: Number(status[1]) } : { closed: true });
    });
    void abuse(socket, () => settled || socket.destroyed);
  });
}

/** Closed, or answered with a 4xx. */
function assertRefused(outcome: Outcome, allowed: number[] = []): void {
  if (outcome.status !== undefined) {
    assert.ok(
      outcome.status >= 400 &&
        outcome.status < 500 &&
        (allowed.length === 0 || allowed.includes(outcome.status)),
      `answered ${outcome.status}`,
    );
  } else assert.equal(outcome.closed, true);
}

/**
 * Writes `bytes` one byte every `everyMs` until the proxy gives up on the connection (over and over,
 * unless `once`: then it stops after the last byte and waits).
 */
async function trickle(
  socket: Duplex,
  done: () => boolean,
  bytes: string | Buffer,
  everyMs: number,
  once = false,
): Promise<void> {
  const data = Buffer.from(bytes);
  for (let i = 0; !done(); i = (i + 1) % data.length) {
    socket.write(data.subarray(i, i + 1));
    await delay(everyMs);
    if (once && i === data.length - 1) return;
  }
}

/** The proxies' own mux client over an established mTLS connection. */
async function muxOver(socket: tls.TLSSocket): Promise<MuxConnection> {
  const conn = new MuxConnection({ role: "client", idleTimeoutMs: DEADLINE_MS });
  conn.attach(socket);
  readInto(socket, conn.reads);
  conn.established();
  return conn;
}

/** Sends `request` on a new stream; resolves what came back once a status line did, or the stream ended. */
function muxRequest(conn: MuxConnection, request: string): Promise<string> {
  const stream = conn.open();
  if (!stream) return Promise.reject(new Error("the connection takes no new streams"));
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    const settle = () => {
      clearTimeout(timer);
      resolve(got);
    };
    readInto(stream, {
      buffer: Buffer.alloc(0),
      callback: (bytes, buffer) => {
        got += buffer.subarray(0, bytes).toString("latin1");
        if (/^HTTP\/1\.1 \d{3} .*\r\n\r\n/s.test(got)) settle();
        return true;
      },
    });
    stream.once("end", settle);
    stream.once("close", settle);
    stream.write(request);
  });
}

/** Sends one HTTP/2 request on `session`; resolves its status, or how it failed. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    req.once("response", (h) => resolve(Number(h[":status"])));
    req.once("error", (err: Error) => resolve(err.message));
    req.once("close", () => resolve(`closed (code ${req.rstCode})`));
    req.setTimeout(DEADLINE_MS, () => resolve("no answer"));
    req.resume();
    req.end();
  });
}

async function countingApp(t: TestContext): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const app = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.end("ok\n");
  });
  t.after(() => app.close());
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  return { port: (app.address() as AddressInfo).port, requests: () => requests };
}

test("abusive clients on 4140, 4143 and 4191 are cut off; the proxies keep serving", async (t) => {
  const mesh = await startMesh(t);
  const app = await countingApp(t);
  const env = { TRELLIS_PROXY_DETECT_TIMEOUT_MS: String(DETECT_TIMEOUT_MS) };
  const server = await mesh.proxy("server", { inboundPorts: [app.port], env });
  const authority = `web.test.svc.cluster.local:${app.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, app.port, server)],
    env,
  });

  let served = 0;
  /** Of those, requests sent straight to the inbound side (not through the client proxy). */
  let direct = 0;
  /** A normal request through the mesh succeeds, and both proxies are live. */
  const stillServing = async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        {
          host: "127.0.0.1",
          port: Number(client.outbound.split(":")[1]),
          path: "/",
          headers: { host: authority },
        },
        (res) => {
          res.resume();
          res.once("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.setTimeout(DEADLINE_MS, () => req.destroy(new Error("no answer through the mesh")));
      req.once("error", reject);
    });
    assert.equal(status, 200, "a request through the mesh");
    served++;
    assert.equal(app.requests(), served);
    for (const proxy of [client, server]) {
      const live = await fetch(`http://${proxy.admin}/live`, { signal: AbortSignal.timeout(DEADLINE_MS) });
      assert.equal(live.status, 200);
      assert.ok(proxy.child.running);
    }
  };
  await stillServing();

  const binary = randomBytes(4096);
  const notHttp = "HELO trellis, this is not HTTP\r\n\r\n";
  const bigHeaders = `GET / HTTP/1.1\r\nHost: ${authority}\r\nX-Big: ${BIG_HEADER}\r\n\r\n`;
  const slowHeaders = `X-Slow-${"a".repeat(64)}: 1\r\n`;

  // Plaintext listeners: outbound (protocol detection, then the HTTP/1.1 server) and admin.
  for (const [name, address] of [
    ["outbound", client.outbound],
    ["admin", client.admin],
  ] as const) {
    await t.test(`${name}: random binary`, async () => {
      assertRefused(await expectRefused(await connect(address), (s) => s.write(binary)));
      await stillServing();
    });
    await t.test(`${name}: a text line that is not HTTP`, async () => {
      assertRefused(await expectRefused(await connect(address), (s) => s.write(notHttp)));
      await stillServing();
    });
    await t.test(`${name}: a 20 KiB header`, async () => {
      assertRefused(await expectRefused(await connect(address), (s) => s.write(bigHeaders)), [431]);
      await stillServing();
    });
    await t.test(`${name}: headers a byte every 200 ms after the request line`, async () => {
      const outcome = await expectRefused(await connect(address), (s, done) => {
        s.write(`GET /live HTTP/1.1\r\nHost: ${authority}\r\n`);
        return trickle(s, done, slowHeaders, 200);
      });
      assertRefused(outcome, [408]);
      await stillServing();
    });
    await t.test(`${name}: the request line itself a byte every 300 ms`, async () => {
      const outcome = await expectRefused(await connect(address), (s, done) =>
        trickle(s, done, `GET /live HTTP/1.1\r\nHost: ${authority}\r\n${slowHeaders}`, 300),
      );
      assertRefused(outcome, [408]);
      await stillServing();
    });
  }

  await t.test("outbound: an HTTP/2 request with a 20 KiB header", async () => {
    const session = http2.connect(`http://${client.outbound}`);
    session.on("error", () => {});
    t.after(() => session.destroy());
    const result = await h2Request(session, { ":path": "/", ":authority": authority, "x-big": BIG_HEADER });
    session.destroy();
    assert.equal(result, 431);
    await stillServing();
  });
  await t.test("outbound: the HTTP/2 preface, then nothing", async () => {
    const outcome = await expectRefused(await connect(client.outbound), (s) =>
      s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    );
    assertRefused(outcome);
    await stillServing();
  });

  // Inbound: garbage where the ClientHello belongs, then a slow ClientHello.
  await t.test("inbound: random binary instead of a ClientHello", async () => {
    assertRefused(await expectRefused(await connect(server.inbound), (s) => s.write(binary)));
    await stillServing();
  });
  await t.test("inbound: a text line instead of a ClientHello", async () => {
    assertRefused(await expectRefused(await connect(server.inbound), (s) => s.write(notHttp)));
    await stillServing();
  });
  await t.test("inbound: a TLS record header then a byte every 300 ms", async () => {
    const outcome = await expectRefused(await connect(server.inbound), (s, done) => {
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      return trickle(s, done, "\x01", 300);
    });
    assertRefused(outcome);
    await stillServing();
  });

  // Inbound after a valid mTLS handshake: the peer is a mesh member, but what it sends is not.
  await t.test("inbound mTLS h2: junk instead of the HTTP/2 preface", async () => {
    assertRefused(await expectRefused(await connectMtls(mesh, server, "h2"), (s) => s.write(binary)));
    await stillServing();
  });
  await t.test("inbound mTLS h2: a text line instead of the HTTP/2 preface", async () => {
    assertRefused(await expectRefused(await connectMtls(mesh, server, "h2"), (s) => s.write(notHttp)));
    await stillServing();
  });
  await t.test("inbound mTLS h2: the preface a byte every 300 ms, then nothing", async () => {
    const outcome = await expectRefused(await connectMtls(mesh, server, "h2"), (s, done) =>
      trickle(s, done, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 300, true),
    );
    assertRefused(outcome);
    await stillServing();
  });
  await t.test("inbound mTLS h2: a request with a 20 KiB header", async () => {
    const socket = await connectMtls(mesh, server, "h2");
    const session = http2.connect(`http://${server.inbound}`, { createConnection: () => socket });
    session.on("error", () => {});
    t.after(() => session.destroy());
    // Sent at once, before the client acknowledged the server's SETTINGS: the proxy measures it itself.
    const result = await h2Request(session, {
      ":path": "/",
      ":authority": authority,
      "trellis-dst-port": String(app.port),
      "x-big": BIG_HEADER,
    });
    session.destroy();
    assert.equal(result, 431);
    await stillServing();
  });
  await t.test("inbound mTLS opaque: a bad stream header", async () => {
    const outcome = await expectRefused(await connectMtls(mesh, server, "trellis.dev/opaque/v1"), (s) =>
      s.write(`GET / HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
    );
    assertRefused(outcome);
    await stillServing();
  });
  await t.test("inbound mTLS opaque: the stream header a byte every 300 ms", async () => {
    const header = Buffer.alloc(6);
    header.write("TRL1", 0, "latin1");
    header.writeUInt16BE(app.port, 4);
    const outcome = await expectRefused(
      await connectMtls(mesh, server, "trellis.dev/opaque/v1"),
      async (s, done) => {
        for (const byte of header.subarray(0, 5)) {
          if (done()) return;
          s.write(Buffer.from([byte]));
          await delay(300);
        }
      },
    );
    assertRefused(outcome);
    await stillServing();
  });

  // The mux protocol that carries HTTP/1.1 between proxies: broken frames close the connection; a
  // broken request inside a stream is answered on that stream, and the connection carries the next.
  await t.test("inbound mTLS mux: a text line instead of frames", async () => {
    assertRefused(await expectRefused(await connectMtls(mesh, server, ALPN_MUX), (s) => s.write(notHttp)));
    await stillServing();
  });
  await t.test("inbound mTLS mux: a frame header a byte every 300 ms, then nothing", async () => {
    const outcome = await expectRefused(await connectMtls(mesh, server, ALPN_MUX), (s, done) =>
      trickle(s, done, Buffer.from([0, 0, 0, 16, 0, 0, 0, 1]), 300, true),
    );
    assertRefused(outcome);
    await stillServing();
  });
  await t.test(
    "inbound mTLS mux: a stream with a 20 KiB header gets 431, another a slow head 408, the next 200",
    async () => {
      const conn = await muxOver(await connectMtls(mesh, server, ALPN_MUX));
      const dst = `trellis-dst-port: ${app.port}\r\n`;
      assert.match(
        await muxRequest(conn, `GET / HTTP/1.1\r\nhost: ${authority}\r\n${dst}x-big: ${BIG_HEADER}\r\n\r\n`),
        /^HTTP\/1\.1 431 /,
      );
      assert.match(
        await muxRequest(conn, `GET / HTTP/1.1\r\nhost: ${authority}\r\n${dst}`),
        /^HTTP\/1\.1 408 /,
      );
      assert.match(
        await muxRequest(conn, `GET / HTTP/1.1\r\nhost: ${authority}\r\n${dst}\r\n`),
        /^HTTP\/1\.1 200 /,
      );
      served++;
      direct++;
      assert.equal(conn.closed, false, "the connection carries on");
      conn.socket?.destroy();
      await stillServing();
    },
  );

  // Nothing the abusers sent reached the app, and nothing threw past the proxy's own handlers.
  assert.equal(app.requests(), served);
  for (const proxy of [client, server]) {
    assert.doesNotMatch(proxy.child.stderr(), /uncaught exception/);
  }
  const outbound = await client.metrics();
  assert.equal(sum(outbound, "request_total", { direction: "outbound", authority }), served - direct);
});
