// The inbound port admits only mesh peers: openssl s_client without a client certificate, with one
// from a foreign CA, or with an expired leaf of the mesh's own CA gets no application data answered;
// a valid mesh leaf does (the control that makes the refusals mean something). Plaintext HTTP gets no
// HTTP response. And a client proxy sends nothing to a peer whose certificate carries another identity.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import tls from "node:tls";
import { promisify } from "node:util";
import { get, meshedDestination, startMesh, type TestMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { makeForeignPki, type TestLeaf } from "../support/pki.js";
import { requireTools } from "../support/tools.js";
import { until } from "../support/wait.js";

const run = promisify(execFile);
const OPAQUE_ALPN = "trellis.dev/opaque/v1";

/** An HTTP/1.1 app that counts the requests it got. */
async function countingApp(t: TestContext): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const app = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", connection: "close" });
    res.end("hello from the app\n");
  });
  t.after(() => app.close());
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  return { port: (app.address() as AddressInfo).port, requests: () => requests };
}

/** The opaque stream header a client proxy writes first (transport/opaque.ts): `TRL1` and the port. */
function opaqueHeader(port: number): Buffer {
  const buf = Buffer.alloc(6);
  buf.write("TRL1", 0, "latin1");
  buf.writeUInt16BE(port, 4);
  return buf;
}

interface SClientResult {
  /** Exit code, or the signal when the deadline killed it. */
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Runs `openssl s_client` against `address`, writes `payload` as application data, keeps stdin open
 * (EOF on stdin would make s_client hang up before any answer) and waits for it to exit, killing it
 * after `deadlineMs`.
 */
function sClient(
  address: string,
  args: string[],
  payload: Buffer,
  deadlineMs = 10_000,
): Promise<SClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("openssl", [
      "s_client",
      "-connect",
      address,
      "-tls1_3",
      "-nocommands",
      "-showcerts",
      ...args,
    ]);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("latin1").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.stdin.on("error", () => {}); // s_client may exit before it reads the payload
    child.stdin.write(payload);
    const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? signal ?? "unknown", stdout, stderr });
    });
  });
}

/**
 * Writes a leaf, its issuer and its key to the mesh dir; returns the s_client arguments presenting
 * them (`-cert` takes only the first certificate of a file: the issuer goes in `-cert_chain`).
 */
async function certArgs(mesh: TestMesh, name: string, leaf: TestLeaf): Promise<string[]> {
  const cert = join(mesh.dir, `${name}.crt`);
  const chain = join(mesh.dir, `${name}-chain.crt`);
  const key = join(mesh.dir, `${name}.key`);
  await writeFile(cert, leaf.certPem);
  await writeFile(
    chain,
    leaf.certChainPem.slice(leaf.certChainPem.indexOf("-----END CERTIFICATE-----") + 26),
  );
  await writeFile(key, leaf.keyPem, { mode: 0o600 });
  return ["-cert", cert, "-cert_chain", chain, "-key", key];
}

/** The first certificate s_client printed (the server's leaf). */
function serverCertificate(stdout: string): X509Certificate {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
  assert.ok(m, `s_client printed no server certificate:\n${stdout}`);
  return new X509Certificate(m[0]);
}

test("inbound mTLS: no client certificate, a foreign CA's, or an expired mesh leaf is refused; a valid mesh leaf is served", async (t) => {
  if (!requireTools(t, "openssl")) return;
  const mesh = await startMesh(t);
  const app = await countingApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [app.port] });
  const anchor = join(mesh.dir, "anchor.crt");
  await writeFile(anchor, mesh.pki.anchor.certPem);
  const base = ["-CAfile", anchor, "-verify_return_error"];

  const foreign = await makeForeignPki();
  const clientId = mesh.identityOf("intruder");
  const cases: { name: string; args: string[] }[] = [
    { name: "no client certificate", args: [] },
    {
      name: "a certificate from a foreign CA",
      args: await certArgs(mesh, "foreign", await foreign.leaf(foreign.identity("test", "intruder"))),
    },
    {
      name: "an expired leaf of the mesh's CA",
      args: await certArgs(mesh, "expired", await mesh.pki.leaf(clientId, { expired: true })),
    },
  ];
  const valid = await certArgs(mesh, "valid", await mesh.pki.leaf(clientId));

  // The request a client would send once through: for h2 a request line (never answered, since the
  // connection must be cut before any application data is read), for the opaque protocol the stream
  // header naming the app port then an HTTP/1.1 request the app answers.
  const line = Buffer.from(`GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`);
  const opaque = Buffer.concat([opaqueHeader(app.port), line]);

  // Control: a valid mesh leaf completes the handshake, sees the server proxy's identity, and the same
  // bytes the refused clients send reach the app over the opaque protocol.
  const ok = await sClient(server.inbound, [...base, ...valid, "-alpn", "h2"], line);
  assert.match(ok.stdout, /Verify return code: 0 \(ok\)/, ok.stdout);
  assert.match(ok.stdout, /ALPN protocol: h2/, ok.stdout);
  assert.match(ok.stdout, /New, TLSv1\.3,/, ok.stdout);
  assert.equal(serverCertificate(ok.stdout).subjectAltName, `URI:${server.identity}`);
  const okOpaque = await sClient(server.inbound, [...base, ...valid, "-alpn", OPAQUE_ALPN], opaque);
  assert.match(
    okOpaque.stdout,
    /HTTP\/1\.1 200 OK[\s\S]*hello from the app/,
    `${okOpaque.code} ${okOpaque.stderr}`,
  );
  assert.equal(app.requests(), 1);

  for (const { name, args } of cases) {
    for (const [alpn, payload] of [
      ["h2", line],
      [OPAQUE_ALPN, opaque],
    ] as const) {
      await t.test(`${name}, ALPN ${alpn}`, async () => {
        const r = await sClient(server.inbound, [...base, ...args, "-alpn", alpn], payload);
        // In TLS 1.3 the client finishes before the server judges its certificate: the refusal comes
        // when s_client reads, as an alert (no certificate) or the connection reset (a certificate
        // Node's server found unauthorized: it destroys the socket without an alert); s_client fails.
        assert.notEqual(r.code, "SIGKILL", `s_client was still connected at the deadline:\n${r.stdout}`);
        assert.notEqual(r.code, 0, `s_client succeeded:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /alert certificate required|errno=104|unexpected eof/, r.stderr);
        t.diagnostic(`${name}, ${alpn}: ${r.stderr.trim().split("\n").at(-1)}`);
        assert.doesNotMatch(r.stdout, /HTTP\/1\.\d \d{3}/, "no HTTP response came back");
        // The server's certificate still verified: the refusal is the client certificate's fault.
        assert.equal(serverCertificate(r.stdout).subjectAltName, `URI:${server.identity}`);
      });
    }
  }
  assert.equal(app.requests(), 1, "no refused client reached the app");
  const inbound = await server.metrics();
  assert.equal(sum(inbound, "tcp_open_total", { direction: "inbound", client_id: clientId }), 2);
  assert.equal(sum(inbound, "request_total", { direction: "inbound" }), 0);
});

test("inbound refuses plaintext HTTP: curl gets no HTTP response", async (t) => {
  if (!requireTools(t, "curl")) return;
  const mesh = await startMesh(t);
  const app = await countingApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [app.port] });

  const result = await run(
    "curl",
    ["-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", `http://${server.inbound}/`],
    {},
  ).then(
    () => ({ code: 0, stdout: "", stderr: "" }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  assert.notEqual(result.code, 0, "curl got an HTTP response");
  assert.notEqual(result.code, 28, `curl timed out instead of being refused: ${result.stderr}`);
  assert.equal(result.stdout, "000", "no HTTP status");
  assert.equal(app.requests(), 0);

  // The proxy is still serving.
  const live = await fetch(`http://${server.admin}/live`);
  assert.equal(live.status, 200);
});

test("a peer presenting another identity gets nothing: 502 naming both identities, counted as failure", async (t) => {
  if (!requireTools(t, "curl")) return;
  const mesh = await startMesh(t);
  const app = await countingApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [app.port] });
  const expected = mesh.identityOf("billing");
  assert.notEqual(expected, server.identity);
  const authority = `billing.test.svc.cluster.local:${app.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, app.port, { ...server, identity: expected })],
  });

  for (let i = 0; i < 2; i++) {
    const { stdout } = await run("curl", [
      "-sS",
      "-m",
      "10",
      "-i",
      "-H",
      `Host: ${authority}`,
      `http://${client.outbound}/pay`,
    ]);
    assert.match(stdout, /^HTTP\/1\.1 502/);
    const header = /^trellis-proxy-error: (.*)$/im.exec(stdout)?.[1] ?? "";
    assert.ok(header.includes(expected), `the error names the expected identity: ${header}`);
    assert.ok(header.includes(server.identity), `the error names the presented identity: ${header}`);
  }
  assert.equal(app.requests(), 0, "nothing reached the app");

  const outbound = await client.metrics();
  const labels = { direction: "outbound", authority, server_id: expected };
  assert.equal(sum(outbound, "request_total", labels), 2);
  assert.equal(sum(outbound, "response_total", { ...labels, classification: "failure" }), 2);
  assert.equal(sum(outbound, "response_total", { ...labels, classification: "success" }), 0);
  const inbound = await server.metrics();
  // Whether the server side saw the handshake finish before the client hung up is a race; what
  // matters is that no request reached it.
  assert.equal(sum(inbound, "request_total", { direction: "inbound" }), 0);
});

test("a peer with the right identity that does not speak the mux protocol gets no frames: 502 saying why", async (t) => {
  const mesh = await startMesh(t);
  const identity = mesh.identityOf("legacy");
  const leaf = await mesh.pki.leaf(identity);
  let received = 0;
  let accepted = 0;
  const open = new Set<Socket>();
  /** A mesh member's TLS server that speaks something else, offering these ALPN protocols. */
  const peer = async (alpn: string[] | undefined): Promise<string> => {
    const server = tls.createServer(
      {
        cert: leaf.certChainPem,
        key: leaf.keyPem,
        ca: mesh.pki.anchor.certPem,
        requestCert: true,
        ...(alpn ? { ALPNProtocols: alpn } : {}),
      },
      (socket) => {
        socket.on("data", (d: Buffer) => {
          received += d.length;
        });
        socket.on("error", () => {});
      },
    );
    // The connections as TCP sees them: whether the TLS side finishes its handshake before the client
    // hangs up is a race.
    server.on("connection", (socket: Socket) => {
      accepted++;
      open.add(socket);
      socket.once("close", () => open.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const cases = [
    // Plain HTTP/1.1 only: the peer's TLS refuses the handshake.
    { name: "only-http1", inbound: await peer(["http/1.1"]), why: /TLS alert: no application protocol/ },
    // No ALPN at all: the handshake completes, and the client proxy hangs up before a frame.
    { name: "no-alpn", inbound: await peer(undefined), why: /did not agree to trellis\.dev\/mux\/v1/ },
  ];
  const client = await mesh.proxy("client", {
    destinations: cases.map(({ name, inbound }) =>
      meshedDestination(`${name}.test.svc.cluster.local:8080`, 8080, {
        inbound,
        identity,
        admin: "",
        outbound: "",
      }),
    ),
  });
  for (const { name, why } of cases) {
    const r = await get(client.outbound, `${name}.test.svc.cluster.local:8080`, "/");
    assert.equal(r.status, 502, name);
    assert.match(String(r.headers["trellis-proxy-error"]), why, name);
  }
  // Whatever the client proxy sent on a connection arrives before the connection's close.
  await until("the client proxy to hang up on the peers", () => open.size === 0);
  assert.ok(accepted >= cases.length, `${accepted} connections: the client proxy reached each peer`);
  assert.equal(received, 0, "not a byte was sent to either");
});
