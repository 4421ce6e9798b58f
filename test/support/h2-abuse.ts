/**
 * What the HTTP/2 abuse tests share: how an abuser reaches each listener that takes HTTP/2 (h2c with
 * prior knowledge to the outbound listener, mTLS with ALPN h2 and a mesh leaf to the inbound one), an
 * HTTP/2 app behind the mesh, and a well-behaved client served through both proxies.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { TestContext } from "node:test";
import { RawH2 } from "./h2-frames.js";
import type { TestMesh, TestProxy } from "./mesh.js";
import { sum } from "./metrics.js";
import { connect, connectMtls, rssMb } from "./sockets.js";

/** Longer than any limit the proxy applies to an abusive client: reaching it fails the test. */
export const DEADLINE_MS = 20_000;
/** The proxy's RSS after any abuse (about 60 MiB idle, under 70 MiB in these runs). */
export const RSS_CEILING_MB = 256;

/** Bytes of the answer to `/big`: far more than any flow-control window between the proxies. */
export const BIG_RESPONSE_BYTES = 256 << 20;

export interface H2App {
  port: number;
  /** Requests the app has seen. */
  requests(): number;
  /** Resolves once the app has seen `n` requests in all; rejects after DEADLINE_MS. */
  seen(n: number): Promise<void>;
  /** Bytes of `/big` answers the app has handed to its HTTP/2 stack. */
  bigBytesWritten(): number;
}

/**
 * A cleartext HTTP/2 app (the inbound proxy forwards HTTP/2 as HTTP/2) that answers "ok"; `/hold` is
 * never answered (until the test ends) and `/big` streams BIG_RESPONSE_BYTES as fast as it is read.
 */
export async function h2App(t: TestContext): Promise<H2App> {
  let requests = 0;
  let bigBytes = 0;
  const waiters = new Set<() => void>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer((req, res) => {
    requests++;
    for (const wake of waiters) wake();
    req.resume();
    res.on("error", () => {});
    if (req.url === "/hold") return;
    if (req.url !== "/big") {
      res.end("ok\n");
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, "x");
    const write = () => {
      while (bigBytes < BIG_RESPONSE_BYTES && !res.destroyed) {
        bigBytes += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", write);
      }
      res.end();
    };
    write();
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => {});
    session.once("close", () => sessions.delete(session));
  });
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    seen: (n) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the app saw ${requests} requests, not ${n}, within ${DEADLINE_MS} ms`));
        }, DEADLINE_MS);
        const check = () => {
          if (requests < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
    bigBytesWritten: () => bigBytes,
  };
}

/**
 * A well-behaved HTTP/2 request through `client`'s outbound listener (h2c to the client proxy, h2
 * between the proxies): it must be answered 200.
 */
export async function servedThrough(client: TestProxy, authority: string): Promise<void> {
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
}

/**
 * Watches the proxy's stderr from now on for a line matching `pattern`: `seen()` resolves once one
 * was written (the proxy logs synchronously, so a cut off's line is out once it was counted), and
 * rejects if none is within DEADLINE_MS of the call.
 */
export function watchLog(proxy: TestProxy, pattern: RegExp): { seen(): Promise<void> } {
  const stderr = proxy.child.process.stderr;
  let text = "";
  let found = false;
  const wakers = new Set<() => void>();
  const onData = (chunk: string | Buffer) => {
    // Only the current line and what follows can still match: keep the text from the last newline.
    text = (text + chunk.toString()).slice(-64 * 1024);
    if (pattern.test(text)) {
      found = true;
      stderr?.off("data", onData);
      for (const wake of wakers) wake();
    } else text = text.slice(text.lastIndexOf("\n") + 1);
  };
  stderr?.on("data", onData);
  return {
    seen: () =>
      new Promise((resolve, reject) => {
        if (found) return resolve();
        const timer = setTimeout(() => {
          stderr?.off("data", onData);
          reject(new Error(`no log line matching ${pattern} within ${DEADLINE_MS} ms`));
        }, DEADLINE_MS);
        wakers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** One of the two listeners that take HTTP/2, as an abuser reaches it. */
export interface AbusedListener {
  name: "outbound" | "inbound";
  proxy: TestProxy;
  direction: "outbound" | "inbound";
  /** A raw HTTP/2 connection to it: h2c to the outbound listener, mTLS as a mesh peer to the inbound one. */
  open(): Promise<RawH2>;
  /** Headers a request needs there (the inbound listener's mesh header naming the app port). */
  extra: Array<[string, string]>;
}

/** The client proxy's outbound listener and the server proxy's inbound one, in that order. */
export function abusedListeners(
  mesh: TestMesh,
  client: TestProxy,
  server: TestProxy,
  appPort: number,
): AbusedListener[] {
  return [
    {
      name: "outbound",
      proxy: client,
      direction: "outbound",
      open: async () => new RawH2((await connect(client.outbound)) as Duplex),
      extra: [],
    },
    {
      name: "inbound",
      proxy: server,
      direction: "inbound",
      open: async () => new RawH2(await connectMtls(mesh, server, "h2", "abuser")),
      extra: [["trellis-dst-port", String(appPort)]],
    },
  ];
}

/** What an abuse test measures each attack against: the proxies, the app, and the figures it prints. */
export interface AbuseBench {
  backend: H2App;
  /** One request served through both proxies (twice, HTTP/2). */
  served(): Promise<void>;
  /** The lines the test prints once it ends. */
  figures: string[];
}

/**
 * Runs `abuse` against `listener` while another client is served, then asserts: the abuser was cut
 * off, the proxy counted the cut off with `reason` and logged it, logged no uncaught exception, its
 * RSS is under the ceiling, and it still serves. Returns the abuser's connection and how many
 * requests reached the app from it.
 */
export async function expectCutOff(
  listener: AbusedListener,
  bench: AbuseBench,
  what: string,
  reason: string,
  abuse: (h2: RawH2) => Promise<void>,
): Promise<{ h2: RawH2; forwarded: number }> {
  const { name, proxy, direction } = listener;
  const labels = { direction, reason };
  const before = sum(await proxy.metrics(), "http2_session_cut_off_total", labels);
  const requestsBefore = bench.backend.requests();
  const log = watchLog(proxy, new RegExp(`"reason":"${reason}"`));
  const h2 = await listener.open();
  try {
    await Promise.all([
      (async () => {
        await abuse(h2);
        await h2.whenCutOff(DEADLINE_MS);
      })(),
      bench.served(),
    ]);
  } finally {
    h2.socket.destroy();
  }
  // Logged once counted: after the line, the metric holds the cut off (the client may see the close first).
  await log.seen();
  const after = sum(await proxy.metrics(), "http2_session_cut_off_total", labels);
  assert.ok(after > before, `http2_session_cut_off_total{direction="${direction}",reason="${reason}"}`);
  await bench.served();
  assert.doesNotMatch(proxy.child.stderr(), /uncaught exception/, `${name} proxy after ${what}`);
  assert.ok(proxy.child.running, `${name} proxy after ${what}`);
  const rss = rssMb(proxy);
  // The app's count includes the two requests served through the mesh.
  const forwarded = bench.backend.requests() - requestsBefore - 2;
  bench.figures.push(
    `${name} ${what}: ${h2.describe()} after ${h2.sent} frames sent; ${forwarded} requests reached the app; RSS ${rss.toFixed(0)} MiB`,
  );
  assert.ok(rss < RSS_CEILING_MB, `${name} proxy RSS ${rss.toFixed(0)} MiB after ${what}`);
  return { h2, forwarded };
}
