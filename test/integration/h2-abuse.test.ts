// HTTP/2 abuse on both listeners that take HTTP/2: the outbound listener (:4140, h2c with prior
// knowledge, as an app sends it) and the inbound listener (:4143, mTLS with ALPN h2 and a leaf of the
// mesh's CA, as a peer proxy sends it). A raw frame writer sends what no HTTP/2 library would:
// SETTINGS and PING floods and a CONTINUATION flood. For each, the proxy cuts the abuser off
// (GOAWAY or close) before the bounded flood ends, its RSS stays under RSS_CEILING_MB, another client
// is served while the abuse goes on, and the proxy counts the cut off (http2_session_cut_off_total,
// with its reason) and logs it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type TestContext, test } from "node:test";
import tls from "node:tls";
import {
  FLAG,
  FRAME,
  frame,
  getRequest,
  headerBlock,
  ping,
  RawH2,
  SETTING,
  settings,
} from "../support/h2-frames.js";
import { meshedDestination, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

/** Longer than any limit the proxy applies to an abusive client: reaching it fails the test. */
const DEADLINE_MS = 20_000;
/** The proxy's RSS after any abuse (about 60 MiB idle, under 70 MiB in these runs). */
const RSS_CEILING_MB = 256;

function rssMb(proxy: TestProxy): number {
  const status = readFileSync(`/proc/${proxy.child.process.pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert.ok(kb, "VmRSS in /proc/<pid>/status");
  return Number(kb[1]) / 1024;
}

function connect(address: string): Promise<net.Socket> {
  const i = address.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A mesh peer's connection: mTLS with a leaf of the mesh's CA and ALPN h2. */
async function connectMtls(mesh: TestMesh, server: TestProxy): Promise<tls.TLSSocket> {
  const leaf = await mesh.pki.leaf(mesh.identityOf("abuser"));
  const i = server.inbound.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: server.inbound.slice(0, i),
      port: Number(server.inbound.slice(i + 1)),
      ca: mesh.pki.anchor.certPem,
      cert: leaf.certChainPem,
      key: leaf.keyPem,
      ALPNProtocols: ["h2"],
      checkServerIdentity: () => undefined,
    });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * A cleartext HTTP/2 app (the inbound proxy forwards HTTP/2 as HTTP/2) that answers "ok".
 */
async function app(t: TestContext): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer((req, res) => {
    requests++;
    req.resume();
    res.end("ok\n");
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

test("HTTP/2 abusers on 4140 and 4143 are cut off; memory stays bounded and others are served", async (t) => {
  const mesh = await startMesh(t);
  const backend = await app(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port] });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
  });
  const figures: string[] = [];
  t.after(() => t.diagnostic(figures.join("\n")));

  /** A normal HTTP/2 request through both proxies (h2c to the client proxy, h2 between the proxies). */
  const served = async () => {
    const session = http2.connect(`http://${client.outbound}`);
    session.on("error", () => {});
    try {
      const status = await new Promise<number | string>((resolve) => {
        const req = session.request({ ":path": "/", ":authority": authority }, { endStream: true });
        req.once("response", (h) => resolve(Number(h[":status"])));
        req.once("error", (err: Error) => resolve(err.message));
        req.setTimeout(DEADLINE_MS, () => resolve("no answer"));
        req.resume();
      });
      assert.equal(status, 200, "another client's request through the mesh");
    } finally {
      session.destroy();
    }
  };
  await served();

  const listeners = [
    {
      name: "outbound",
      proxy: client,
      direction: "outbound",
      open: async () => new RawH2((await connect(client.outbound)) as Duplex),
      extra: [] as Array<[string, string]>,
    },
    {
      name: "inbound",
      proxy: server,
      direction: "inbound",
      open: async () => new RawH2(await connectMtls(mesh, server)),
      extra: [["trellis-dst-port", String(backend.port)]] as Array<[string, string]>,
    },
  ];

  for (const { name, proxy, direction, open, extra } of listeners) {
    const request = (path: string) => getRequest(authority, path, extra);
    /**
     * Runs `abuse` while another client is served, then: the abuser was cut off, the proxy counted
     * the cut off with `reason` and logged it, its RSS is under the ceiling, and it still serves.
     */
    const expectCutOff = async (what: string, reason: string, abuse: (h2: RawH2) => Promise<void>) => {
      const before = sum(await proxy.metrics(), "http2_session_cut_off_total", { direction, reason });
      const h2 = await open();
      try {
        await Promise.all([
          (async () => {
            await abuse(h2);
            await h2.whenCutOff(DEADLINE_MS);
          })(),
          served(),
        ]);
      } finally {
        h2.socket.destroy();
      }
      const after = sum(await proxy.metrics(), "http2_session_cut_off_total", { direction, reason });
      assert.ok(after > before, `http2_session_cut_off_total{direction="${direction}",reason="${reason}"}`);
      assert.match(proxy.child.stderr(), new RegExp(`"reason":"${reason}"`));
      const rss = rssMb(proxy);
      figures.push(
        `${name} ${what}: ${h2.describe()} after ${h2.sent} frames sent; RSS ${rss.toFixed(0)} MiB`,
      );
      assert.ok(rss < RSS_CEILING_MB, `${name} proxy RSS ${rss.toFixed(0)} MiB after ${what}`);
      await served();
      return h2;
    };

    await t.test(`${name}: a SETTINGS flood (up to 100000 frames)`, async () => {
      const h2 = await expectCutOff("SETTINGS flood", "flood", async (h2) => {
        h2.start();
        await h2.flood(100_000, () => settings([[SETTING.INITIAL_WINDOW_SIZE, 65_535]]), 1000);
      });
      assert.ok(h2.count(FRAME.SETTINGS) < 10_000, "acknowledged a bounded number");
    });

    await t.test(`${name}: a PING flood (up to 100000 frames)`, async () => {
      const h2 = await expectCutOff("PING flood", "flood", async (h2) => {
        h2.start();
        await h2.flood(100_000, ping, 1000);
      });
      assert.ok(h2.count(FRAME.PING) < 10_000, "answered a bounded number");
    });

    await t.test(`${name}: HEADERS without END_HEADERS, then CONTINUATION frames without end`, async () => {
      const h2 = await expectCutOff("CONTINUATION flood", "continuation_flood", async (h2) => {
        h2.start();
        h2.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, request("/")));
        // Each CONTINUATION a whole, valid header field: only their number is wrong.
        await h2.flood(100_000, (i) => frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-${i}`, "1"]])));
      });
      assert.ok(h2.sent < 100_000, "cut off before the flood ran out");
    });
  }

  for (const proxy of [client, server]) assert.ok(proxy.child.running);
});
