/**
 * The differential checks' parts: the relay alone on loopback, an app that is a raw socket server
 * recording every byte it reads (not node:http, which would parse them its own way), a raw client,
 * and the check that what reached the app is exactly what the strict reference parser reads in what
 * the client sent.
 */
import assert from "node:assert/strict";
import net, { type AddressInfo, type Socket } from "node:net";
import { exchange } from "../../proxy/http/exchange.js";
import { Http1Pool } from "../../proxy/http/h1/client.js";
import { Http1Server } from "../../proxy/http/h1/server.js";
import { parseResponse } from "../proxy/http/h1/support.js";
import { handedFor } from "./h1-conn.js";
import { parseRequests, type Request } from "./http1.js";

const DEADLINE_MS = 15_000;

/** One connection to the app: every byte it read, and what the reference makes of them. */
interface AppConn {
  bytes: Buffer;
  closed: boolean;
  answered: number;
  /** Bytes after an upgrade the app accepted: the tunnel's. */
  tunnel?: Buffer;
}

/** A raw app: answers each request the reference parses 200 (an upgrade 101), and keeps every byte. */
export async function recordingApp() {
  const conns: AppConn[] = [];
  let changed = () => {};
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const conn: AppConn = { bytes: Buffer.alloc(0), closed: false, answered: 0 };
    conns.push(conn);
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      conn.bytes = Buffer.concat([conn.bytes, d]);
      const parsed = parseRequests(conn.bytes);
      for (const req of parsed.requests.slice(conn.answered)) {
        conn.answered++;
        if (req.upgrade) {
          socket.write(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
          );
          conn.tunnel = parsed.rest;
        } else socket.write("HTTP/1.1 200 OK\r\nx-app: seen\r\ncontent-length: 0\r\n\r\n");
        if (!req.keepAlive) socket.end();
      }
      if (conn.tunnel) conn.tunnel = parsed.rest;
      changed();
    });
    socket.once("close", () => {
      conn.closed = true;
      changed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    server,
    /** Stops listening and cuts every connection. */
    close(): void {
      for (const s of sockets) s.destroy();
      server.close();
    },
    /** Resolves once `check` holds, checked on every byte the app reads and every close. */
    until(what: string, check: () => boolean): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the app: ${what} not within ${DEADLINE_MS} ms`)),
          DEADLINE_MS,
        );
        changed = () => {
          if (!check()) return;
          clearTimeout(timer);
          changed = () => {};
          resolve();
        };
        changed();
      });
    },
  };
}

/** Sends `bytes` to the outbound listener and half-closes; resolves with what came back, once closed. */
export function send(outbound: string, bytes: Buffer): Promise<Buffer> {
  const port = Number(outbound.slice(outbound.lastIndexOf(":") + 1));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the proxy neither answered nor closed within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("error", () => {}); // a reset is one way of being refused
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    socket.end(bytes);
  });
}

/** The statuses of the responses the client got, in order, as far as they parse. */
export function statuses(bytes: Buffer): number[] {
  const out: number[] = [];
  let rest = bytes;
  for (;;) {
    let parsed: ReturnType<typeof parseResponse>;
    try {
      parsed = parseResponse(rest, true);
    } catch {
      break;
    }
    if (!parsed) break;
    if (parsed.response.status !== 100) out.push(parsed.response.status);
    rest = rest.subarray(parsed.used);
    if (parsed.used === 0 || rest.length === 0) break;
  }
  return out;
}

export const hostOf = (r: Request) => r.headers.find(([n]) => n.toLowerCase() === "host")?.[1];
const xFields = (r: { headers: Record<string, string | string[]> }) =>
  Object.fromEntries(Object.entries(r.headers).filter(([n]) => n.startsWith("x-")));

/** What one vector did: what the client got back, and what reached the app. */
export interface VectorOutcome {
  name: string;
  statuses: number[];
  reached: Request[];
  tunnel?: Buffer;
}

/**
 * What was sent on one connection: its bytes, what the Host of each of its requests holds (and no
 * other connection's does), and the answer.
 */
export interface Sent {
  name: string;
  authority: string;
  bytes: Buffer;
  answer: Buffer;
}

/**
 * Once the app is at rest, checks what reached it against what was sent: every byte it read parses
 * strictly with nothing left over, and each connection's requests (told apart by their authority)
 * are the reference's requests of the bytes sent, in order, or none when the proxy refused them.
 */
export async function judge(
  app: Awaited<ReturnType<typeof recordingApp>>,
  vectors: Sent[],
): Promise<VectorOutcome[]> {
  // Every app connection at rest: closed, or holding only whole requests, each answered.
  await app.until("every connection at rest", () =>
    app.conns.every(
      (c) =>
        c.closed ||
        c.tunnel !== undefined ||
        (parseRequests(c.bytes).rest.length === 0 && c.answered === parseRequests(c.bytes).requests.length),
    ),
  );

  // What reached the app, by vector; every byte it read must parse strictly, nothing left over.
  const reached: { host: string; req: Request }[] = [];
  const tunnels = new Map<string, Buffer>();
  for (const conn of app.conns) {
    const parsed = parseRequests(conn.bytes);
    assert.equal(
      parsed.error,
      undefined,
      `the app read bytes that do not parse: ${JSON.stringify(parsed.rest.toString("latin1").slice(0, 200))}`,
    );
    for (const req of parsed.requests) {
      // Framed canonically: one length in plain digits, or chunked alone.
      const framing = req.headers.filter(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
      assert.ok(framing.length <= 1, `framed twice: ${JSON.stringify(framing)}`);
      const [name, value] = framing[0] ?? ["", ""];
      if (/^content-length$/i.test(name)) assert.match(value, /^(0|[1-9][0-9]*)$/);
      if (/^transfer-encoding$/i.test(name)) assert.equal(value, "chunked");
      const host = hostOf(req) ?? "";
      reached.push({ host, req });
      if (req.upgrade && conn.tunnel) tunnels.set(host, conn.tunnel);
    }
    if (!conn.tunnel && !conn.closed)
      assert.equal(parsed.rest.length, 0, "an open app connection holds part of a request");
  }

  const outcomes: VectorOutcome[] = [];
  for (const v of vectors) {
    const sent = parseRequests(v.bytes);
    const got = reached.filter((r) => r.host.includes(v.authority)).map((r) => r.req);
    const codes = statuses(v.answer);
    outcomes.push({ name: v.name, statuses: codes, reached: got });
    assert.ok(
      got.length <= sent.requests.length,
      `${v.name}: ${got.length} requests reached the app, the bytes sent hold ${sent.requests.length}${sent.error ? ` (then: ${sent.error})` : ""}: ${got.map((r) => `${r.method} ${r.target}`).join(", ")}`,
    );
    got.forEach((req, i) => {
      const want = handedFor(sent.requests[i] as Request);
      const seen = handedFor(req);
      assert.equal(seen.method, want.method, `${v.name}: request ${i + 1}'s method`);
      assert.equal(seen.path, want.path, `${v.name}: request ${i + 1}'s target`);
      assert.deepEqual(seen.body, want.body, `${v.name}: request ${i + 1}'s body`);
      assert.deepEqual(xFields(seen), xFields(want), `${v.name}: request ${i + 1}'s fields`);
    });
    if (got.some((r) => r.upgrade))
      assert.deepEqual(
        [...tunnels].find(([host]) => host.includes(v.authority))?.[1],
        sent.rest,
        `${v.name}: the upgraded stream`,
      );
    // Refused: no request of the vector got through, and the client got the proxy's answer or a cut.
    if (got.length === 0)
      assert.ok(
        codes.every((c) => c >= 400),
        `${v.name}: answered ${codes} with nothing reaching the app`,
      );
    else
      assert.ok(
        codes.filter((c) => c === 200).length <= got.length,
        `${v.name}: more 200s than requests reaching the app`,
      );
  }
  return outcomes;
}

/** The relay in front of `appPort` on a loopback port; `close` ends it and every connection. */
export async function relay(appPort: number) {
  const pool = new Http1Pool({
    connect: (onread) => net.connect({ host: "127.0.0.1", port: appPort, onread }),
    readyEvent: "connect",
    target: "app",
    connectTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
  });
  const server = new Http1Server({
    maxHeaderBytes: 16 * 1024,
    headersTimeoutMs: 10_000,
    keepAliveTimeoutMs: 10_000,
    onRequest: (down) => exchange(down, pool.upstream(), { firstByte() {}, end() {} }),
  });
  const sockets = new Set<Socket>();
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    server.accept(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      listener.close();
      server.close();
      pool.close();
    },
  };
}
