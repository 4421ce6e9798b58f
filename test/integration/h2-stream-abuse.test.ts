// HTTP/2 abuse through streams, on both listeners that take HTTP/2 (the outbound listener, h2c with
// prior knowledge as an app sends it; the inbound listener, mTLS with ALPN h2 and a mesh leaf as a peer
// proxy sends it), with a raw frame writer: streams opened and reset at once (rapid reset,
// CVE-2023-44487), a response held behind a flow-control window of zero, more streams than
// SETTINGS_MAX_CONCURRENT_STREAMS allows, and a session error while a stream is open. For each, the
// proxy cuts the abuser off (GOAWAY or close) before the bounded abuse ends, counts it in
// http2_session_cut_off_total with its reason and logs it, keeps its RSS under RSS_CEILING_MB, serves
// another client during the abuse, and logs no uncaught exception.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  abusedListeners,
  BIG_RESPONSE_BYTES,
  expectCutOff,
  h2App,
  servedThrough,
} from "../support/h2-abuse.js";
import {
  ERROR,
  FLAG,
  FRAME,
  frame,
  getRequest,
  headerBlock,
  type RawH2,
  rstStream,
  SETTING,
} from "../support/h2-frames.js";
import { meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

/** The limits both proxies run with, low so that each abuse reaches them quickly. */
const MAX_RESETS = 100;
const MAX_CONCURRENT_STREAMS = 20;
const STALL_TIMEOUT_MS = 1000;
const LIMITS = {
  TRELLIS_PROXY_HTTP2_MAX_RESETS: String(MAX_RESETS),
  TRELLIS_PROXY_HTTP2_MAX_CONCURRENT_STREAMS: String(MAX_CONCURRENT_STREAMS),
  TRELLIS_PROXY_HTTP2_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
};

test("HTTP/2 stream abusers on 4140 and 4143 are cut off; memory stays bounded and others are served", async (t) => {
  const mesh = await startMesh(t);
  const backend = await h2App(t);
  const server = await mesh.proxy("server", { inboundPorts: [backend.port], env: LIMITS });
  const authority = `web.test.svc.cluster.local:${backend.port}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, backend.port, server)],
    env: LIMITS,
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
    const cutOff = (what: string, reason: string, abuse: (h2: RawH2) => Promise<void>) =>
      expectCutOff(listener, bench, what, reason, abuse);
    const get = (id: number, path: string) =>
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, request(path));

    await t.test(`${name}: a session error with a stream open raises no uncaught exception`, async () => {
      // Regression: nghttp2 ending a session destroyed its open streams with the session's error, and
      // a request stream without an 'error' listener made that an uncaught ERR_HTTP2_ERROR.
      const seen = backend.requests();
      await cutOff("session error with a stream open", "continuation_flood", async (h2) => {
        h2.start();
        h2.write(get(1, "/hold"));
        await backend.seen(seen + 1);
        h2.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 3, request("/")));
        await h2.flood(100_000, (i) => frame(FRAME.CONTINUATION, 0, 3, headerBlock([[`x-${i}`, "1"]])));
      });
    });

    await t.test(
      `${name}: more streams than SETTINGS_MAX_CONCURRENT_STREAMS, settings acknowledged`,
      async () => {
        const { h2, forwarded } = await cutOff("too many streams", "too_many_streams", async (h2) => {
          h2.start();
          await h2.flood(10_000, (i) => get(2 * i + 1, "/hold"), 10);
        });
        assert.ok(h2.sent < 10_000, "cut off before the streams ran out");
        // The GOAWAY, when it is out before the close, names no stream past the limit as taken.
        if (h2.goaway) assert.ok(h2.goaway.lastStreamId < 2 * MAX_CONCURRENT_STREAMS, h2.describe());
        assert.ok(forwarded <= MAX_CONCURRENT_STREAMS, `${forwarded} requests reached the app`);
      },
    );

    await t.test(
      `${name}: more streams than SETTINGS_MAX_CONCURRENT_STREAMS, settings unacknowledged`,
      async () => {
        const { h2, forwarded } = await cutOff("too many streams, no ACK", "too_many_streams", async (h2) => {
          h2.start([], false);
          await h2.flood(100_000, (i) => get(2 * i + 1, "/hold"), 100);
        });
        assert.ok(h2.sent < 100_000, "cut off before the streams ran out");
        assert.ok((h2.resets.get(ERROR.REFUSED_STREAM) ?? 0) > 0, "streams past the limit are refused");
        assert.ok(forwarded <= MAX_CONCURRENT_STREAMS, `${forwarded} requests reached the app`);
      },
    );

    await t.test(`${name}: rapid reset, HEADERS then RST_STREAM (up to 20000 streams)`, async () => {
      const pair = (id: number) => Buffer.concat([get(id, "/"), rstStream(id)]);
      const peerCutOffs = async () =>
        sum(await server.metrics(), "http2_session_cut_off_total", { direction: "inbound" });
      const peerBefore = await peerCutOffs();
      const { h2, forwarded } = await cutOff("rapid reset", "rapid_reset", async (h2) => {
        h2.start();
        await h2.flood(20_000, (i) => pair(2 * i + 1), 50);
      });
      // A GOAWAY read before the close (a close with the flood unread may reset the connection and
      // lose it) says why, and names the last stream taken. Node hands a stream over after it parsed the
      // whole read it came in: the budget's streams are taken, and at most what two reads of 64 KiB hold.
      if (h2.goaway) {
        assert.equal(h2.goaway.code, ERROR.ENHANCE_YOUR_CALM, h2.describe());
        const taken = (h2.goaway.lastStreamId + 1) / 2;
        const perRead = Math.ceil((64 * 1024) / pair(1).length);
        assert.ok(taken <= MAX_RESETS + 2 * perRead, `${taken} streams taken`);
      }
      assert.ok(forwarded < 2 * MAX_RESETS, `${forwarded} requests reached the app`);
      // Regression: the client proxy forwarded streams already reset, then their cancellations, so the
      // peer proxy counted them against the session every request to it shares, and cut it off at the
      // next stream on it (a request of another client, answered 502).
      if (name === "outbound") {
        await served();
        await served();
        assert.equal(await peerCutOffs(), peerBefore, "the peer proxy cut nothing off");
      }
    });

    await t.test(`${name}: responses held behind a flow-control window of zero`, async () => {
      const written = backend.bigBytesWritten();
      const { h2 } = await cutOff("zero window", "stalled", async (h2) => {
        h2.start([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
        // As many streams as the client may have, each asking for a response far larger than the windows.
        for (let i = 0; i < MAX_CONCURRENT_STREAMS; i++) h2.write(get(2 * i + 1, "/big"));
      });
      assert.equal(h2.count(FRAME.DATA), 0, "no DATA past a window of zero");
      assert.ok((h2.resets.get(ERROR.CANCEL) ?? 0) >= 1, "a stalled stream is reset");
      assert.equal(h2.goaway?.code, ERROR.NO_ERROR, "the client is told to go away");
      const bytes = backend.bigBytesWritten() - written;
      figures.push(`${name} zero window: the app wrote ${(bytes / 2 ** 20).toFixed(1)} MiB of the responses`);
      assert.ok(bytes < BIG_RESPONSE_BYTES / 2, `the app wrote ${bytes} bytes of the responses`);
    });
  }

  for (const proxy of [client, server]) assert.ok(proxy.child.running);
});
