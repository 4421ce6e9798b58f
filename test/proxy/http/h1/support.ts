/**
 * A harness for the HTTP/1.1 relay (proxy/http/h1): an Http1Server whose requests go through
 * exchange() to an Http1Pool, listening on loopback as the outbound proxy wires it; raw clients that
 * see exactly the bytes the relay wrote; servers that clean up after the test.
 */
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TestContext } from "node:test";
import { exchange } from "../../../../proxy/http/exchange.js";
import { Http1Pool } from "../../../../proxy/http/h1/client.js";
import { Http1Server, type UpgradeRequest } from "../../../../proxy/http/h1/server.js";
import type { ResponseOutcome } from "../../../../proxy/metrics/index.js";
import type { SplicedReads } from "../../../../proxy/transport/reads.js";

/** Longer than anything the relay should take in these tests: reaching it fails the test. */
export const DEADLINE_MS = 8000;

/** Listens on a loopback port; every connection is cut and the server closed after the test. */
export async function listen<S extends net.Server>(t: TestContext, server: S): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RelayOptions {
  /** The listener's allowHalfOpen (true, as the outbound proxy's listener has it, unless set). */
  allowHalfOpen?: boolean;
  maxHeaderBytes?: number;
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** The pool's idle timeout towards the backend. */
  idleTimeoutMs?: number;
  /** The clock of the relay's deadlines and of the pool's idle timeout (`Date.now` unless set). */
  now?: () => number;
  onHeadersTimeout?(): void;
  onUpgrade?(req: UpgradeRequest, socket: Duplex, rest: Buffer, reads: SplicedReads): void;
}

export interface Relay {
  port: number;
  server: Http1Server;
  pool: Http1Pool;
  /** What the recorder was told at the end of each exchange, in order. */
  outcomes: ResponseOutcome[];
  /** Client connections the relay has accepted so far. */
  accepted: number;
}

/** The relay the outbound proxy runs, forwarding every request to one backend port. */
export async function startRelay(
  t: TestContext,
  backendPort: number,
  options: RelayOptions = {},
): Promise<Relay> {
  const outcomes: ResponseOutcome[] = [];
  const pool = new Http1Pool({
    connect: (onread) => net.connect({ host: "127.0.0.1", port: backendPort, onread }),
    readyEvent: "connect",
    target: "backend",
    connectTimeoutMs: options.connectTimeoutMs ?? DEADLINE_MS,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    now: options.now,
  });
  const server = new Http1Server({
    maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    headersTimeoutMs: options.headersTimeoutMs ?? 1000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 30_000,
    now: options.now,
    onHeadersTimeout: options.onHeadersTimeout,
    onRequest: (down) =>
      exchange(down, pool.upstream(), {
        firstByte() {},
        end(outcome) {
          outcomes.push(outcome);
        },
      }),
    onUpgrade: options.onUpgrade,
  });
  const relay: Relay = { port: 0, server, pool, outcomes, accepted: 0 };
  // Upgraded sockets leave the Http1Server: the listener's own tracking cuts them after the test.
  relay.port = await listen(
    t,
    net.createServer({ noDelay: true, allowHalfOpen: options.allowHalfOpen ?? true }, (socket) => {
      relay.accepted++;
      server.accept(socket);
    }),
  );
  t.after(() => {
    server.close();
    pool.close();
  });
  return relay;
}

/** One response as a raw client read it. */
export interface RawResponse {
  status: number;
  /** The head exactly as received (latin1), status line included. */
  head: string;
  /** Header values by lowercase name; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** The body with any chunk framing removed. */
  body: Buffer;
  /** The body's bytes as they were on the wire (chunk framing included). */
  wire: Buffer;
  chunked: boolean;
  trailers: Record<string, string>;
}

function parseFields(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/**
 * Parses one response at the start of `buf`: its length in bytes and the response, or undefined when
 * more bytes are needed. `closed`: the peer closed, so a body without framing ends here.
 */
export function parseResponse(
  buf: Buffer,
  closed: boolean,
  method = "GET",
): { response: RawResponse; used: number } | undefined {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const head = buf.subarray(0, headEnd).toString("latin1");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const status = Number(match[1]);
  const headers = parseFields(lines);
  let offset = headEnd + 4;
  const base = { status, head, headers, chunked: false, trailers: {} };
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
    const empty = Buffer.alloc(0);
    return { response: { ...base, body: empty, wire: empty }, used: offset };
  }
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", offset);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(buf.subarray(offset, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error("malformed chunk size");
      if (size === 0) {
        const end = buf.indexOf("\r\n\r\n", lineEnd);
        let trailerLines: string[] = [];
        if (buf[lineEnd + 2] === 13 && buf[lineEnd + 3] === 10) {
          offset = lineEnd + 4;
        } else {
          if (end < 0) return undefined;
          trailerLines = buf
            .subarray(lineEnd + 2, end)
            .toString("latin1")
            .split("\r\n");
          offset = end + 4;
        }
        const wire = buf.subarray(headEnd + 4, offset);
        const response = {
          ...base,
          chunked: true,
          body: Buffer.concat(parts),
          wire,
          trailers: parseFields(trailerLines),
        };
        return { response, used: offset };
      }
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      if (buf.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString("latin1") !== "\r\n")
        throw new Error("chunk not followed by CRLF");
      offset = lineEnd + 4 + size;
    }
  }
  const length = headers["content-length"];
  if (length !== undefined) {
    const n = Number(length);
    if (buf.length < offset + n) return undefined;
    const body = buf.subarray(offset, offset + n);
    return { response: { ...base, body, wire: body }, used: offset + n };
  }
  if (!closed) return undefined;
  const body = buf.subarray(offset);
  return { response: { ...base, body, wire: body }, used: buf.length };
}

/** A client socket that keeps every byte it receives, for assertions on the exact bytes. */
export class RawClient {
  private buf = Buffer.alloc(0);
  /** Every byte received, including what parsed responses consumed. */
  all = Buffer.alloc(0);
  closed = false;
  private readonly changed = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.all = Buffer.concat([this.all, d]);
      this.notify();
    });
    socket.on("error", () => {}); // a reset is one way of being closed
    socket.once("close", () => {
      this.closed = true;
      this.notify();
    });
  }

  static connect(t: TestContext, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
      t.after(() => socket.destroy());
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new RawClient(socket));
      });
    });
  }

  private notify(): void {
    for (const f of [...this.changed]) f();
  }

  /** Strings are sent as latin1, one byte per character. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /** Resolves once `check` returns a value (checked on every byte and at close), failing after `ms`. */
  waitUntil<T>(what: string, check: () => T | undefined, ms = DEADLINE_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${what}; received ${JSON.stringify(this.all.toString("latin1").slice(0, 400))}`,
          ),
        );
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.changed.delete(attempt);
      };
      this.changed.add(attempt);
      attempt();
    });
  }

  /** The next complete response; fails if the connection closes first. */
  response(method = "GET", ms = DEADLINE_MS): Promise<RawResponse> {
    return this.waitUntil(
      "a response",
      () => {
        const parsed = parseResponse(this.buf, this.closed, method);
        if (parsed) {
          this.buf = this.buf.subarray(parsed.used);
          if (parsed.response.status < 200) return undefined; // interim: wait for the final one
          return parsed.response;
        }
        if (this.closed)
          throw new Error(
            `closed before a whole response; left ${JSON.stringify(this.buf.toString("latin1"))}`,
          );
        return undefined;
      },
      ms,
    );
  }

  /** Resolves once `text` (latin1) appears among the received bytes. */
  received(text: string, ms = DEADLINE_MS): Promise<void> {
    return this.waitUntil(
      JSON.stringify(text),
      () => (this.all.includes(text, 0, "latin1") ? true : undefined),
      ms,
    ).then(() => {});
  }

  /** Resolves once the relay closed the connection. */
  whenClosed(ms = DEADLINE_MS): Promise<void> {
    return this.waitUntil("the connection to close", () => (this.closed ? true : undefined), ms).then(
      () => {},
    );
  }

  /** Bytes received and not consumed by a parsed response. */
  get unread(): Buffer {
    return this.buf;
  }

  end(): void {
    this.socket.end();
  }
}

/** A plain node:http request with a bounded time; the body comes back whole. */
export function request(
  port: number,
  options: http.RequestOptions & { body?: Buffer | string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options;
    const req = http.request(
      { host: "127.0.0.1", port, agent: false, timeout: DEADLINE_MS, ...rest },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no response within ${DEADLINE_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A promise with its resolve function, for handing control between a test and its servers. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
