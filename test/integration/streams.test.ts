// What is not a plain request and response: an HTTP/1.1 Upgrade passed through to the app, opaque TCP
// carried over mTLS, and a proxy told to stop while a request is in flight.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { freePort, get, meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { until, within } from "../support/wait.js";

function listening(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

/** An app behind a server proxy, reached as HTTP through a client proxy that has it as a meshed destination. */
async function httpMesh(
  t: TestContext,
  name: string,
  app: net.Server,
  serverEnv: Record<string, string> = {},
) {
  const mesh = await startMesh(t);
  t.after(() => app.close());
  const appPort = await listening(app);
  const server = await mesh.proxy(name, { inboundPorts: [appPort], env: serverEnv });
  const authority = `${name}.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy(`${name}-client`, {
    destinations: [meshedDestination(authority, appPort, server)],
  });
  return { server, client, authority };
}

/** An app behind a server proxy, reached through a client proxy that binds it as opaque TCP. */
async function opaqueMesh(t: TestContext, name: string, app: net.Server) {
  const mesh = await startMesh(t);
  t.after(() => app.close());
  const appPort = await listening(app);
  const server = await mesh.proxy(name, { inboundPorts: [appPort] });
  const bindPort = await freePort();
  const client = await mesh.proxy(`${name}-client`, {
    destinations: [
      {
        ...meshedDestination(`${name}.test.svc.cluster.local:${appPort}`, appPort, server),
        protocol: "opaque",
        bind: `127.0.0.1:${bindPort}`,
      },
    ],
  });
  return { server, client, bindPort };
}

/** Everything the socket receives, as text, once it ends. */
function readToEnd(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => {
      text += c;
    });
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error("opaque stream timed out")));
  });
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Tallies what the app's socket receives; `onData` sees the running size. The result reads
 * `SIZE SHA256`, what the clients compare against `sha256` of what they sent.
 */
function tally(socket: net.Socket, onData?: (size: number) => void): () => string {
  const hash = createHash("sha256");
  let size = 0;
  socket.on("data", (c: Buffer) => {
    hash.update(c);
    size += c.length;
    onData?.(size);
  });
  return () => `${size} ${hash.digest("hex")}`;
}

test("an HTTP/1.1 Upgrade reaches the app and the connection becomes a two-way byte stream", async (t) => {
  const app = http.createServer((_req, res) => res.end("plain\n"));
  app.on("upgrade", (req, socket: net.Socket, head: Buffer) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-seen-host: ${req.headers.host}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const { server, client, authority } = await httpMesh(t, "ws", app);

  const [host, port] = client.outbound.split(":");
  const { res, socket } = await new Promise<{ res: http.IncomingMessage; socket: net.Socket }>(
    (resolve, reject) => {
      const req = http.request({
        host,
        port: Number(port),
        path: "/chat",
        headers: { host: authority, connection: "Upgrade", upgrade: "echo-protocol" },
        timeout: 10_000,
      });
      req.on("upgrade", (r, s) => resolve({ res: r, socket: s }));
      req.on("response", (r) =>
        reject(new Error(`no upgrade: ${r.statusCode} ${r.headers["trellis-proxy-error"]}`)),
      );
      req.on("timeout", () => req.destroy(new Error("upgrade timed out")));
      req.on("error", reject);
      req.end();
    },
  );
  t.after(() => socket.destroy());
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers.upgrade, "echo-protocol");
  assert.equal(res.headers["x-seen-host"], authority);

  const payload = randomBytes(256 * 1024);
  const echoed = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= payload.length) resolve(Buffer.concat(chunks));
    });
    socket.on("error", reject);
    socket.write(payload);
  });
  assert.ok(echoed.equals(payload), "the upgraded stream echoed every byte unchanged");
  const inbound = await server.metrics();
  assert.ok(
    sum(inbound, "tcp_open_total", { direction: "inbound", tls: "true", client_id: client.identity }) >= 1,
  );
});

test("opaque TCP: a client that half-closes still gets the whole answer", async (t) => {
  // The app answers once the client is done sending, as a request-then-FIN protocol does.
  const app = net.createServer({ allowHalfOpen: true }, (socket) => {
    const received = tally(socket);
    socket.on("end", () => socket.end(`${received()}\n${"x".repeat(256 * 1024)}`));
    socket.on("error", () => socket.destroy());
  });
  const { bindPort } = await opaqueMesh(t, "batch", app);

  const payload = randomBytes(256 * 1024);
  const socket = net.connect(bindPort, "127.0.0.1");
  const reply = readToEnd(socket);
  socket.end(payload);
  assert.equal(await reply, `${payload.length} ${sha256(payload)}\n${"x".repeat(256 * 1024)}`);
});

test("opaque TCP: an app that half-closes first still gets the rest of what the client sends", async (t) => {
  // The app says all it has to say and ends its side, then reads the client's upload to its end.
  let resolve: (digest: string) => void = () => {};
  let reject: (err: Error) => void = () => {};
  const received = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const app = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.end("HELLO, send me everything\n");
    const received = tally(socket);
    socket.on("end", () => resolve(received()));
    socket.on("error", (err) => reject(err));
  });
  const { bindPort } = await opaqueMesh(t, "sink", app);

  const payload = randomBytes(256 * 1024);
  const socket = net.connect({ port: bindPort, host: "127.0.0.1", allowHalfOpen: true });
  t.after(() => socket.destroy());
  // The app's end reaches the client first; only then does the client send.
  assert.equal(await readToEnd(socket), "HELLO, send me everything\n");
  socket.end(payload);
  assert.equal(await received, `${payload.length} ${sha256(payload)}`);
});

test("opaque TCP: a non-HTTP protocol crosses the mesh over mTLS, byte for byte", async (t) => {
  // A server-first protocol: the app greets before the client says anything.
  const app = net.createServer((socket) => {
    socket.write("HELLO opaque\n");
    const received = tally(socket, (size) => {
      if (size >= 1024 * 1024) socket.end(`${received()}\n`);
    });
    socket.on("error", () => socket.destroy());
  });
  const { server, client, bindPort } = await opaqueMesh(t, "db", app);

  const payload = randomBytes(1024 * 1024);
  const socket = net.connect(bindPort, "127.0.0.1");
  const reply = readToEnd(socket);
  // The client speaks only after the greeting.
  socket.once("data", () => socket.write(payload));
  assert.equal(await reply, `HELLO opaque\n${payload.length} ${sha256(payload)}\n`);

  const inbound = await server.metrics();
  assert.equal(
    sum(inbound, "tcp_open_total", { direction: "inbound", tls: "true", client_id: client.identity }),
    1,
  );
  const outbound = await client.metrics();
  assert.equal(
    sum(outbound, "tcp_open_total", {
      direction: "outbound",
      peer: "dst",
      tls: "true",
      server_id: server.identity,
    }),
    1,
  );
  assert.ok(sum(outbound, "tcp_write_bytes_total", { direction: "outbound", peer: "dst" }) >= payload.length);
});

test("SIGTERM: the proxy stops accepting, finishes the request in flight, and exits 0", async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived: () => void = () => {};
  const inFlight = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const app = http.createServer((req, res) => {
    if (req.url === "/slow") {
      arrived();
      void released.then(() => res.end("finished\n"));
    } else res.end("fast\n");
  });
  // A grace far longer than the test may wait: the proxy exits in time only if it stops once nothing is
  // in flight.
  const { server, client, authority } = await httpMesh(t, "drain", app, {
    TRELLIS_PROXY_SHUTDOWN_GRACE_MS: "600000",
  });

  const slow = get(client.outbound, authority, "/slow");
  await inFlight;
  server.child.process.kill("SIGTERM");
  // Not ready any more, and new connections are refused, while the slow request is still open.
  await until("the draining proxy to stop answering /ready with 200", async () => {
    const ready = await fetch(`http://${server.admin}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    return ready !== 200;
  });
  const refused = await new Promise<boolean>((resolve) => {
    const probe = net.connect(Number(server.inbound.split(":")[1]), "127.0.0.1");
    probe.on("connect", () => {
      probe.destroy();
      resolve(false);
    });
    probe.on("error", () => resolve(true));
  });
  assert.ok(refused, "the draining proxy accepts no new connection");
  release();
  const res = await slow;
  assert.equal(res.status, 200);
  assert.equal(res.body, "finished\n");
  // Once nothing is in flight the proxy exits, without waiting out its grace: the client proxy's idle
  // connection to it was told to go away and closed.
  assert.equal(
    await within("the proxy to exit once the last request was done", server.child.exited, 120_000),
    0,
  );
});

test("HTTP/1.1 between proxies: a client that stops reading a large answer holds up no other request", async (t) => {
  // Far more than the kernel buffers on the way hold, so the stall reaches the app.
  const big = randomBytes(48 * 1024 * 1024);
  let bigServed = false;
  const app = http.createServer((req, res) => {
    req.resume();
    if (req.url === "/big") {
      res.writeHead(200, { "content-length": big.length });
      res.end(big, () => {
        bigServed = true;
      });
    } else res.end(`small ${req.url}\n`);
  });
  const { client, authority } = await httpMesh(t, "hol", app);
  const [host, port] = client.outbound.split(":");

  // The large answer starts and its reader stops: the bytes in flight fill the windows and buffers
  // between the proxies and stay there.
  const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path: "/big", headers: { host: authority } }, resolve);
    req.once("error", reject);
  });
  assert.equal(stalled.statusCode, 200);
  stalled.pause();
  // A moment for the bytes in flight to fill the way; the smaller requests must pass however full it is.
  await new Promise((resolve) => setTimeout(resolve, 500));

  // Meanwhile the same pair of proxies carries other requests, many at once.
  const smalls = await Promise.all(
    Array.from({ length: 40 }, (_, i) => get(client.outbound, authority, `/${i}`, 30_000)),
  );
  for (const [i, r] of smalls.entries()) {
    assert.equal(r.status, 200);
    assert.equal(r.body, `small /${i}\n`);
  }
  // Checked once the others are through, which takes longer the slower the machine: however slow, a
  // stalled reader holds the rest back.
  assert.equal(bigServed, false, "the app could not write it all: the stalled reader holds it back");

  // The reader goes on: every byte arrives, in order.
  const hash = createHash("sha256");
  let size = 0;
  stalled.on("data", (c: Buffer) => {
    hash.update(c);
    size += c.length;
  });
  stalled.resume();
  await new Promise((resolve, reject) => {
    stalled.once("end", resolve);
    stalled.once("error", reject);
  });
  assert.equal(size, big.length);
  assert.equal(hash.digest("hex"), sha256(big));
});
