// app → proxy → mTLS → proxy → app, with real clients: curl (HTTP/1.1, large streamed bodies both ways,
// keep-alive), curl over HTTP/2, and grpc-js with a server-streaming call; every request counted with
// tls="true" and both identities.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { get, meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { requireTools } from "../support/tools.js";

const run = promisify(execFile);
const MB = 1024 * 1024;

function listen(server: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

/** An HTTP/1.1 app: POST answers the body's size and SHA-256; GET /download?mb=N streams N MiB, chunked. */
function http1App(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://app");
    if (url.pathname === "/download") {
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = Number(url.searchParams.get("mb")) * 16;
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      return pump();
    }
    const hash = createHash("sha256");
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      hash.update(c);
    });
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-app-saw-host": req.headers.host ?? "" });
      res.end(JSON.stringify({ size, sha256: hash.digest("hex"), method: req.method, path: req.url }));
    });
  });
}

test("HTTP/1.1 through two proxies: curl, keep-alive, 32 MiB streamed up and down, counted as mTLS", async (t) => {
  if (!requireTools(t, "curl")) return;
  const mesh = await startMesh(t);
  const app = http1App();
  t.after(() => app.close());
  const appPort = await listen(app);
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = `web.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server, { service: "web", namespace: "test" })],
  });

  const body = join(mesh.dir, "upload.bin");
  await writeFile(body, Buffer.alloc(32 * MB, 3));
  const expected = createHash("sha256");
  for await (const c of createReadStream(body)) expected.update(c as Buffer);

  // Two requests on one connection (keep-alive), the upload chunked so nothing knows its length upfront.
  const { stdout } = await run(
    "curl",
    [
      "-sS",
      "--fail",
      "-H",
      `Host: ${authority}`,
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${body}`,
      `http://${client.outbound}/upload`,
      "--next",
      "-sS",
      "--fail",
      "-H",
      `Host: ${authority}`,
      "-o",
      join(mesh.dir, "download.bin"),
      "-w",
      "%{size_download} %{num_connects}",
      `http://${client.outbound}/download?mb=32`,
    ],
    { maxBuffer: 4 * MB },
  );
  const [json, tail] = [stdout.slice(0, stdout.indexOf("}") + 1), stdout.slice(stdout.indexOf("}") + 1)];
  const answer = JSON.parse(json) as { size: number; sha256: string; method: string };
  assert.equal(answer.size, 32 * MB);
  assert.equal(answer.sha256, expected.digest("hex"));
  assert.equal(answer.method, "POST");
  const [downloaded, connects] = tail.trim().split(" ").map(Number);
  assert.equal(downloaded, 32 * MB);
  assert.equal(connects, 0, "the second request reused the keep-alive connection");

  const outbound = await client.metrics();
  const labels = { direction: "outbound", tls: "true", server_id: server.identity, authority };
  assert.equal(sum(outbound, "request_total", labels), 2);
  assert.equal(
    sum(outbound, "response_total", { ...labels, classification: "success", status_code: "200" }),
    2,
  );
  assert.equal(sum(outbound, "request_total", { dst_service: "web", dst_namespace: "test" }), 2);
  const inbound = await server.metrics();
  assert.equal(
    sum(inbound, "request_total", { direction: "inbound", tls: "true", client_id: client.identity }),
    2,
  );
  assert.equal(sum(inbound, "response_total", { direction: "inbound", classification: "success" }), 2);
});

test("HTTP/2 through two proxies: curl and h2load to an h2c app, trailers kept", async (t) => {
  if (!requireTools(t, "curl", "h2load")) return;
  const mesh = await startMesh(t);
  const app = http2.createServer();
  app.on("stream", (stream, headers) => {
    if (headers[":path"] === "/up") {
      // Echoes what a request with a body and trailers delivered.
      let bytes = 0;
      let trailer = "none";
      stream.on("data", (c: Buffer) => {
        bytes += c.length;
      });
      stream.on("trailers", (t) => {
        trailer = String(t["x-checksum"]);
      });
      stream.on("end", () => {
        stream.respond({ ":status": 200 });
        stream.end(`${bytes} ${trailer}`);
      });
      return;
    }
    stream.respond(
      { ":status": 200, "x-proto": "h2", "content-type": "text/plain" },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () => stream.sendTrailers({ "x-done": "yes" }));
    stream.end(`h2 ${headers[":method"]} ${headers[":path"]} ${headers[":authority"]}\n`);
  });
  t.after(() => app.close());
  const appPort = await listen(app);
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = `h2.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
  });

  for (const path of ["/a", "/b"]) {
    const { stdout } = await run("curl", [
      "-sS",
      "--fail",
      "--http2-prior-knowledge",
      "-i",
      "-H",
      `Host: ${authority}`,
      `http://${client.outbound}${path}`,
    ]);
    assert.match(stdout, /^HTTP\/2 200/m);
    assert.match(stdout, new RegExp(`h2 GET ${path} ${authority}`));
  }
  // h2load multiplexes 200 requests over 2 connections, 10 streams at a time.
  const { stdout: load } = await run("h2load", [
    "-n200",
    "-c2",
    "-m10",
    "-H",
    `:authority: ${authority}`,
    `http://${client.outbound}/load`,
  ]);
  assert.match(load, /200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored/);

  // A Node HTTP/2 client sees the trailers the app sent.
  const session = http2.connect(`http://${client.outbound}`);
  t.after(() => session.close());
  const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const req = session.request({ ":path": "/t", ":authority": authority });
    req.on("trailers", resolve);
    req.on("error", reject);
    req.resume();
    req.end();
  });
  assert.equal(trailers["x-done"], "yes");

  // And the app sees the trailers a client sent after its request body, and the body whole.
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = session.request(
      { ":path": "/up", ":method": "POST", ":authority": authority },
      { waitForTrailers: true },
    );
    req.on("wantTrailers", () => req.sendTrailers({ "x-checksum": "c0ffee" }));
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
    req.end(Buffer.alloc(100_000, "t"));
  });
  assert.equal(echoed, "100000 c0ffee");
  const outbound = await client.metrics();
  assert.equal(
    sum(outbound, "response_total", {
      direction: "outbound",
      tls: "true",
      server_id: server.identity,
      classification: "success",
    }),
    204,
  );
});

const raw = {
  serialize: (b: Buffer) => b,
  deserialize: (b: Buffer) => b,
};
const EchoService: grpc.ServiceDefinition = {
  count: {
    path: "/test.Echo/Count",
    requestStream: false,
    responseStream: true,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  },
  chat: {
    path: "/test.Echo/Chat",
    requestStream: true,
    responseStream: true,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  },
};

test("gRPC through two proxies: server-streaming and bidirectional grpc-js calls, status and metrics", async (t) => {
  const mesh = await startMesh(t);
  const server = new grpc.Server();
  server.addService(EchoService, {
    count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = call.request.readUInt8(0);
      if (n === 0) {
        call.emit("error", { code: grpc.status.NOT_FOUND, details: "nothing to count" });
        return;
      }
      for (let i = 1; i <= n; i++) call.write(Buffer.from(`message ${i}`));
      call.end();
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (m: Buffer) => call.write(Buffer.from(`echo ${m.toString()}`)));
      call.on("end", () => call.end());
    },
  });
  const appPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  t.after(() => server.forceShutdown());
  const serverProxy = await mesh.proxy("grpc-server", { inboundPorts: [appPort] });
  const authority = `echo.test.svc.cluster.local:${appPort}`;
  const clientProxy = await mesh.proxy("grpc-client", {
    destinations: [meshedDestination(authority, appPort, serverProxy)],
  });

  const Client = grpc.makeGenericClientConstructor(EchoService, "Echo");
  const client = new Client(clientProxy.outbound, grpc.credentials.createInsecure(), {
    "grpc.default_authority": authority,
  });
  t.after(() => client.close());
  const call = (n: number) =>
    new Promise<{ messages: string[]; error?: grpc.ServiceError }>((resolve) => {
      const messages: string[] = [];
      const stream = (client as unknown as { count(req: Buffer): grpc.ClientReadableStream<Buffer> }).count(
        Buffer.from([n]),
      );
      stream.on("data", (m: Buffer) => messages.push(m.toString()));
      stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
      stream.on("end", () => resolve({ messages }));
    });

  const ok = await call(5);
  assert.equal(ok.error, undefined);
  assert.deepEqual(ok.messages, ["message 1", "message 2", "message 3", "message 4", "message 5"]);
  const failed = await call(0);
  assert.equal(failed.error?.code, grpc.status.NOT_FOUND);
  assert.equal(failed.error?.details, "nothing to count");

  // Both ways at once: each message the client streams is answered before the next is sent.
  const chat = (client as unknown as { chat(): grpc.ClientDuplexStream<Buffer, Buffer> }).chat();
  const replies: string[] = [];
  for (const word of ["one", "two", "three"]) {
    const reply = new Promise<string>((resolve) => chat.once("data", (m: Buffer) => resolve(m.toString())));
    chat.write(Buffer.from(word));
    replies.push(await reply);
  }
  const chatEnded = new Promise<void>((resolve, reject) => {
    chat.on("status", (st: grpc.StatusObject) =>
      st.code === grpc.status.OK ? resolve() : reject(new Error(st.details)),
    );
  });
  chat.end();
  await chatEnded;
  assert.deepEqual(replies, ["echo one", "echo two", "echo three"]);

  const outbound = await clientProxy.metrics();
  const labels = { direction: "outbound", tls: "true", server_id: serverProxy.identity };
  assert.equal(
    sum(outbound, "response_total", { ...labels, grpc_status: "0", classification: "success" }),
    2,
  );
  assert.equal(
    sum(outbound, "response_total", { ...labels, grpc_status: "5", classification: "failure" }),
    1,
  );
  const inbound = await serverProxy.metrics();
  assert.equal(
    sum(inbound, "request_total", { direction: "inbound", tls: "true", client_id: clientProxy.identity }),
    3,
  );
});

test("HTTP/1.1 edge cases cross the mesh: HEAD, 204, 304, a body delimited by close, 100-continue, errors", async (t) => {
  if (!requireTools(t, "curl")) return;
  const mesh = await startMesh(t);
  const app = http.createServer((req, res) => {
    switch (req.url) {
      case "/head":
        res.writeHead(200, { "content-length": "5", "x-head": "yes" });
        res.end(req.method === "HEAD" ? undefined : "hello");
        return;
      case "/empty":
        res.writeHead(204);
        res.end();
        return;
      case "/cached":
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      case "/close": {
        // HTTP/1.0 style: no length, no chunking, the end of the body is the end of the connection.
        req.resume();
        const socket = res.socket;
        res.detachSocket(socket as never);
        socket?.end(
          "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\ndelimited by close",
        );
        return;
      }
      case "/fail":
        res.writeHead(503, { "retry-after": "1" });
        res.end("busy\n");
        return;
      default: {
        let n = 0;
        req.on("data", (c: Buffer) => {
          n += c.length;
        });
        req.on("end", () => res.end(`got ${n}\n`));
      }
    }
  });
  t.after(() => app.close());
  const appPort = await listen(app);
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = `edge.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
  });
  const curl = async (...args: string[]) =>
    (await run("curl", ["-sS", "-m", "10", "-H", `Host: ${authority}`, ...args])).stdout;

  const head = await curl("-I", `http://${client.outbound}/head`);
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /x-head: yes/i);
  assert.match(head, /content-length: 5/i);
  assert.equal(await curl("-o", "/dev/null", "-w", "%{http_code}", `http://${client.outbound}/empty`), "204");
  assert.equal(
    await curl("-o", "/dev/null", "-w", "%{http_code}", `http://${client.outbound}/cached`),
    "304",
  );
  assert.equal(await curl(`http://${client.outbound}/close`), "delimited by close");
  assert.equal(
    await curl(
      "-H",
      "Expect: 100-continue",
      "--data-binary",
      "x".repeat(2048),
      `http://${client.outbound}/post`,
    ),
    "got 2048\n",
  );
  const failed = await curl("-i", `http://${client.outbound}/fail`);
  assert.match(failed, /^HTTP\/1\.1 503/);
  assert.match(failed, /retry-after: 1/i);
  assert.doesNotMatch(
    failed,
    /trellis-proxy-error/,
    "the app's own error is passed through, not the proxy's",
  );

  const outbound = await client.metrics();
  const labels = { direction: "outbound", tls: "true", server_id: server.identity };
  assert.equal(
    sum(outbound, "response_total", { ...labels, status_code: "503", classification: "failure" }),
    1,
  );
  assert.equal(sum(outbound, "response_total", { ...labels, classification: "success" }), 5);
});

test("an IPv6 endpoint without identity is reached in plaintext over HTTP/1.1, HTTP/2 and an Upgrade", async (t) => {
  // Regression: the plaintext HTTP/2 session and the Upgrade dial wrote `::1:port` without brackets,
  // which fell back to the default port instead of the endpoint's.
  const mesh = await startMesh(t);
  const h1 = http.createServer((req, res) => res.end(`h1 ${req.url}`));
  h1.on("upgrade", (_req, socket, head: Buffer) => {
    // Bytes past the request head arrive as `head`; the rest through the socket.
    socket.write("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n");
    socket.write(head);
    socket.pipe(socket);
  });
  const h2 = http2.createServer((req, res) => res.end(`h2 ${req.url}`));
  const listen6 = (server: http.Server | http2.Http2Server) =>
    new Promise<number>((resolve) =>
      server.listen(0, "::1", () => resolve((server.address() as AddressInfo).port)),
    );
  const h1Port = await listen6(h1);
  const h2Port = await listen6(h2);
  t.after(() => {
    h1.closeAllConnections();
    h1.close();
    h2.close();
  });
  const client = await mesh.proxy("client");
  const [outHost, outPort] = [
    client.outbound.slice(0, client.outbound.lastIndexOf(":")),
    Number(client.outbound.slice(client.outbound.lastIndexOf(":") + 1)),
  ];

  const one = await get(client.outbound, `[::1]:${h1Port}`, "/one");
  assert.deepEqual([one.status, one.body], [200, "h1 /one"]);

  const session = http2.connect(`http://${outHost}:${outPort}`);
  t.after(() => session.close());
  const two = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ":path": "/two", ":authority": `[::1]:${h2Port}` });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
    req.end();
  });
  assert.equal(two, "h2 /two");

  const echoed = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(outPort, outHost);
    let seen = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => {
      seen += c;
      if (seen.includes("\r\n\r\n") && seen.endsWith("ping")) {
        socket.destroy();
        resolve(seen);
      }
    });
    socket.on("error", reject);
    socket.write(
      `GET /up HTTP/1.1\r\nhost: [::1]:${h1Port}\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nping`,
    );
  });
  assert.match(echoed, /^HTTP\/1\.1 101 /);
});
