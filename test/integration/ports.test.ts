// The inbound side's port check is a security boundary: a mesh peer names the app port it wants
// (`trellis-dst-port` on HTTP/2, the opaque header on a byte stream), and the server proxy forwards only
// to an allowed port. Through a real proxy: a missing, garbage, forbidden or proxy-owned port is refused
// with its code and reaches nothing; an allowed one is served and the app never sees the header; and a
// plaintext app cannot choose the port at the peer by sending the header to its own outbound proxy.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import tls from "node:tls";
import { PROXY_ERRORS, type ProxyErrorCode } from "../../proxy/errors.js";
import { PROXY_ERROR_HEADER } from "../../proxy/http/error-response.js";
import { get, meshedDestination, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

const OPAQUE_ALPN = "trellis.dev/opaque/v1";

/**
 * An app that records the headers of every request it gets: HTTP/1.1, or cleartext HTTP/2 (the
 * inbound proxy forwards a request to the app in the protocol the peer sent it in).
 */
async function recordingApp(
  t: TestContext,
  protocol: "h1" | "h2" = "h1",
): Promise<{ port: number; seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const handler = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    seen.push(req.headers);
    req.resume();
    res.end("app\n");
  };
  const app = protocol === "h2" ? http2.createServer(handler) : http.createServer(handler);
  t.after(() => app.close());
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  return { port: (app.address() as AddressInfo).port, seen };
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

/** An HTTP/2 session to the proxy's inbound port with a valid mesh leaf, as a client proxy opens one. */
async function meshSession(
  t: TestContext,
  mesh: TestMesh,
  proxy: TestProxy,
): Promise<http2.ClientHttp2Session> {
  const leaf = await mesh.pki.leaf(mesh.identityOf("peer"));
  const session = http2.connect(`https://${proxy.inbound}`, {
    ca: mesh.pki.anchor.certPem,
    cert: leaf.certChainPem,
    key: leaf.keyPem,
    ALPNProtocols: ["h2"],
    // The peer's SPIFFE ID is checked by the proxies themselves; here only the chain matters.
    checkServerIdentity: () => undefined,
  });
  t.after(() => session.close());
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  return session;
}

/** The start of the trellis-proxy-error a refusal with `code` carries: its catalogue summary. */
const says = (code: ProxyErrorCode) => new RegExp(`^${PROXY_ERRORS[code].summary}`);

/** One request on the session; the status and the proxy's trellis-proxy-error, if any. */
function request(
  session: http2.ClientHttp2Session,
  dstPort: string | undefined,
): Promise<{ status: number; error: string }> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = { ":path": "/", ":authority": "app.test" };
    if (dstPort !== undefined) headers["trellis-dst-port"] = dstPort;
    const stream = session.request(headers, { endStream: true });
    stream.once("response", (h) => {
      stream.resume();
      stream.once("end", () =>
        resolve({ status: Number(h[":status"]), error: String(h[PROXY_ERROR_HEADER] ?? "") }),
      );
    });
    stream.once("error", reject);
    stream.setTimeout(10_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** An opaque stream naming `port`: whatever the server proxy sends back before it closes. */
async function opaque(mesh: TestMesh, proxy: TestProxy, port: number, payload: string): Promise<string> {
  const leaf = await mesh.pki.leaf(mesh.identityOf("peer"));
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: portOf(proxy.inbound),
      ca: mesh.pki.anchor.certPem,
      cert: leaf.certChainPem,
      key: leaf.keyPem,
      ALPNProtocols: [OPAQUE_ALPN],
      checkServerIdentity: () => undefined,
    });
    let got = "";
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
      got += c;
    });
    socket.once("secureConnect", () => {
      const header = Buffer.alloc(6);
      header.write("TRL1", 0, "latin1");
      header.writeUInt16BE(port, 4);
      socket.write(Buffer.concat([header, Buffer.from(payload)]));
    });
    socket.once("close", () => resolve(got));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      err.code === "ECONNRESET" ? resolve(got) : reject(err),
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error(`opaque stream to port ${port} still open`)));
  });
}

test("with inbound ports listed: a missing, garbage or unlisted port is refused with its code; a listed one is served without the header", async (t) => {
  const mesh = await startMesh(t);
  const app = await recordingApp(t, "h2");
  const other = await recordingApp(t, "h2");
  const plain = await recordingApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [app.port, plain.port] });
  const session = await meshSession(t, mesh, server);

  const refused: [string | undefined, number, ProxyErrorCode][] = [
    [undefined, 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["http", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["0", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["65536", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["-80", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    ["8.5", 400, "TRELLIS_E_PROXY_NO_DST_PORT"],
    [String(other.port), 403, "TRELLIS_E_PROXY_PORT_FORBIDDEN"],
    [String(portOf(server.admin)), 403, "TRELLIS_E_PROXY_PORT_FORBIDDEN"],
  ];
  for (const [value, status, code] of refused) {
    const r = await request(session, value);
    assert.equal(r.status, status, `trellis-dst-port ${JSON.stringify(value)}`);
    assert.match(r.error, says(code), `trellis-dst-port ${JSON.stringify(value)}`);
  }
  assert.equal(other.seen.length, 0, "an unlisted app got nothing");
  assert.equal(app.seen.length, 0, "nothing refused reached the app");

  const ok = await request(session, String(app.port));
  assert.equal(ok.status, 200, ok.error);
  assert.equal(app.seen.length, 1);
  assert.equal(app.seen[0]?.["trellis-dst-port"], undefined, "the app never sees the header");

  // The opaque header is held to the same list.
  assert.equal(await opaque(mesh, server, other.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  assert.equal(other.seen.length, 0);
  assert.match(
    await opaque(mesh, server, plain.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    /^HTTP\/1\.1 200/,
  );
  assert.equal(plain.seen.length, 1);
  // Every request is counted, refused or not, under the peer's identity.
  const metrics = await server.metrics();
  assert.equal(
    sum(metrics, "request_total", { direction: "inbound", tls: "true", client_id: mesh.identityOf("peer") }),
    refused.length + 1,
  );
  assert.equal(sum(metrics, "response_total", { direction: "inbound", status_code: "403" }), 2);
});

test("without a list: any app port, but never the proxy's own ports, over HTTP/2 and the opaque header", async (t) => {
  const mesh = await startMesh(t);
  const app = await recordingApp(t, "h2");
  const server = await mesh.proxy("server");
  const session = await meshSession(t, mesh, server);
  for (const own of [server.admin, server.inbound, server.outbound]) {
    const r = await request(session, String(portOf(own)));
    assert.equal(r.status, 403, own);
    assert.match(r.error, says("TRELLIS_E_PROXY_PORT_FORBIDDEN"), own);
    // The admin server answers plain HTTP: had the stream reached it, metrics text would come back.
    assert.equal(
      await opaque(mesh, server, portOf(own), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
      "",
      own,
    );
  }
  assert.equal((await request(session, String(app.port))).status, 200);
  assert.equal(app.seen.length, 1);
});

test("a plaintext app cannot pick the port at the peer: a trellis-dst-port it sends is replaced by its destination's", async (t) => {
  const mesh = await startMesh(t);
  const app = await recordingApp(t);
  const server = await mesh.proxy("server");
  const authority = `ports.test.svc.cluster.local:${app.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, app.port, server)],
  });
  const forged = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: portOf(client.outbound),
        path: "/forged",
        headers: { host: authority, "trellis-dst-port": String(portOf(server.admin)) },
      },
      (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.once("error", reject);
    req.end();
  });
  assert.equal(forged, 200);
  assert.equal(app.seen.length, 1, "the request went to the app's port, not the admin server");
  assert.equal(app.seen[0]?.["trellis-dst-port"], undefined);
  assert.equal((await get(client.outbound, authority, "/plain")).status, 200);
});
