// HTTP/2 abuse on both listeners that take HTTP/2: the outbound listener (:4140, h2c with prior
// knowledge, as an app sends it) and the inbound listener (:4143, mTLS with ALPN h2 and a leaf of the
// mesh's CA, as a peer proxy sends it). A raw frame writer sends what no HTTP/2 library would:
// SETTINGS and PING floods and a CONTINUATION flood. For each, the proxy cuts the abuser off
// (GOAWAY or close) before the bounded flood ends, its RSS stays under RSS_CEILING_MB, another client
// is served while the abuse goes on, and the proxy counts the cut off (http2_session_cut_off_total,
// with its reason) and logs it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { abusedListeners, expectCutOff, h2App, servedThrough } from "../support/h2-abuse.js";
import {
  FLAG,
  FRAME,
  frame,
  getRequest,
  headerBlock,
  ping,
  type RawH2,
  SETTING,
  settings,
} from "../support/h2-frames.js";
import { meshedDestination, startMesh } from "../support/mesh.js";

test("HTTP/2 abusers on 4140 and 4143 are cut off; memory stays bounded and others are served", async (t) => {
  const mesh = await startMesh(t);
  const backend = await h2App(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port] });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
  });
  const figures: string[] = [];
  t.after(() => t.diagnostic(figures.join("\n")));

  const served = () => servedThrough(client, authority);
  await served();

  const listeners = abusedListeners(mesh, client, server, backend.port);

  const bench = { backend, served, figures };
  for (const listener of listeners) {
    const { name, extra } = listener;
    const request = (path: string) => getRequest(authority, path, extra);
    const cutOff = async (what: string, reason: string, abuse: (h2: RawH2) => Promise<void>) =>
      (await expectCutOff(listener, bench, what, reason, abuse)).h2;

    await t.test(`${name}: a SETTINGS flood (up to 100000 frames)`, async () => {
      const h2 = await cutOff("SETTINGS flood", "flood", async (h2) => {
        h2.start();
        await h2.flood(100_000, () => settings([[SETTING.INITIAL_WINDOW_SIZE, 65_535]]), 1000);
      });
      assert.ok(h2.count(FRAME.SETTINGS) < 10_000, "acknowledged a bounded number");
    });

    await t.test(`${name}: a PING flood (up to 100000 frames)`, async () => {
      const h2 = await cutOff("PING flood", "flood", async (h2) => {
        h2.start();
        await h2.flood(100_000, ping, 1000);
      });
      assert.ok(h2.count(FRAME.PING) < 10_000, "answered a bounded number");
    });

    await t.test(`${name}: HEADERS without END_HEADERS, then CONTINUATION frames without end`, async () => {
      const h2 = await cutOff("CONTINUATION flood", "continuation_flood", async (h2) => {
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
