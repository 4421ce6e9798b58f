// HTTP/2 abuse on both listeners that take HTTP/2: the outbound listener (:4140, h2c with prior
// knowledge, as an app sends it) and the inbound listener (:4143, mTLS with ALPN h2 and a leaf of the
// mesh's CA, as a peer proxy sends it). A raw frame writer sends what no HTTP/2 library would:
// SETTINGS and PING floods and a CONTINUATION flood. For each, the proxy cuts the abuser off
// (GOAWAY or close) before the bounded flood ends, its RSS stays under RSS_CEILING_MB, another client
// is served while the abuse goes on, and the proxy counts the cut off (http2_session_cut_off_total,
// with its reason) and logs it.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  abusedListeners,
  DEADLINE_MS,
  h2App,
  RSS_CEILING_MB,
  servedThrough,
  watchLog,
} from "../support/h2-abuse.js";
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
import { sum } from "../support/metrics.js";
import { rssMb } from "../support/sockets.js";

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

  for (const { name, proxy, direction, open, extra } of listeners) {
    const request = (path: string) => getRequest(authority, path, extra);
    /**
     * Runs `abuse` while another client is served, then: the abuser was cut off, the proxy counted
     * the cut off with `reason` and logged it, its RSS is under the ceiling, and it still serves.
     */
    const expectCutOff = async (what: string, reason: string, abuse: (h2: RawH2) => Promise<void>) => {
      const before = sum(await proxy.metrics(), "http2_session_cut_off_total", { direction, reason });
      const log = watchLog(proxy, new RegExp(`"reason":"${reason}"`));
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
      // Logged once counted: after the line, the metric holds the cut off (the client may see the close first).
      await log.seen();
      const after = sum(await proxy.metrics(), "http2_session_cut_off_total", { direction, reason });
      assert.ok(after > before, `http2_session_cut_off_total{direction="${direction}",reason="${reason}"}`);
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
