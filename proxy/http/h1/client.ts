/**
 * The HTTP/1.1 client side of the relay: a keep-alive pool of connections to one endpoint (a peer
 * proxy over mTLS, or an app), most recently used first. Each request's head is written in one
 * piece and its body streamed with backpressure; the response is parsed with llhttp and handed on
 * as an UpstreamResponse whose body is read straight off the connection. A request without a body
 * that finds its reused connection closed by the endpoint (it went idle on their side) before any
 * byte of an answer is sent once more on a fresh connection: it cannot have been processed.
 */

import net from "node:net";
import { formatHostPort } from "../../../lib/address.js";
import { lazyReads, type ReadInto } from "../../transport/reads.js";
import type { Upstream, UpstreamResponse } from "../exchange.js";
import type { Headers } from "../headers.js";
import { ClientExchange, type ClientExchangeConn } from "./client-exchange.js";
import type { Conn } from "./conn.js";
import { Http1Parser, headerLines, SKIP_BODY } from "./parser.js";

export interface Http1PoolOptions {
  /**
   * Opens a connection to the endpoint, reading into `onread` (pass it to `net.connect` or
   * `tls.connect`). Bytes written before it is established wait for it.
   */
  connect(onread: ReadInto): Conn;
  /** The event that says the connection is established (`connect`, or `secureConnect` for TLS). */
  readyEvent: "connect" | "secureConnect";
  /** Names the endpoint in errors. */
  target: string;
  connectTimeoutMs: number;
  /** Idle connections close after this. */
  idleTimeoutMs: number;
  /** Called when the pool's last connection closed. */
  onEmpty?: () => void;
  /** At most this many connections at once; further requests wait for one to be free. */
  maxConnections?: number;
  maxIdle?: number;
  maxHeaderBytes?: number;
  /** The clock idle connections are timed by, in ms since the epoch: `Date.now` unless a test drives it. */
  now?: () => number;
}

/** A pool's options for plaintext HTTP/1.1 to `host:port` (an app, or an endpoint outside the mesh). */
export function plainPoolOptions(host: string, port: number, connectTimeoutMs: number): Http1PoolOptions {
  return {
    connect: (onread) => net.connect({ host, port, noDelay: true, onread }),
    readyEvent: "connect",
    target: formatHostPort(host, port),
    connectTimeoutMs,
    idleTimeoutMs: 60_000,
  };
}

const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_IDLE = 256;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;

export class Http1Pool {
  private readonly idle: ClientConn[] = [];
  private readonly waiting: Array<(conn: ClientConn) => void> = [];
  private open = 0;
  private closed = false;
  private readonly upstreams = new Map<string, Upstream>();
  /**
   * Closes connections idle past the idle timeout, while any are idle: one sweep per pool rather than
   * a timer per socket, which every read and write would have to push back.
   */
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(readonly options: Http1PoolOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Requests through this pool, with `extra` (the mesh's own) headers added to each. */
  upstream(extra?: Headers): Upstream {
    return this.upstreamWith(extra ? headerLines(extra) : "");
  }

  /** `upstream()` with the extra headers already as header lines. */
  upstreamWith(extraLines: string): Upstream {
    let upstream = this.upstreams.get(extraLines);
    if (!upstream) {
      upstream = this.makeUpstream(extraLines);
      this.upstreams.set(extraLines, upstream);
    }
    return upstream;
  }

  private makeUpstream(extraLines: string): Upstream {
    return (req, cb) => {
      let cancelled = false;
      let exchange: ClientExchange | undefined;
      const attempt = (retry: boolean) => {
        this.acquire((conn) => {
          if (cancelled) {
            this.release(conn);
            return;
          }
          exchange = new ClientExchange(conn, req, extraLines, (err, res, retryable) => {
            if (err && retry && retryable && !req.body && !cancelled) {
              attempt(false);
              return;
            }
            cb(err, res);
          });
          conn.send(exchange);
        }, !retry);
      };
      attempt(true);
      return () => {
        cancelled = true;
        exchange?.cancel();
      };
    };
  }

  /**
   * A connection for one exchange: an idle one unless `fresh` (a retry, which must not meet another
   * idle connection the endpoint is closing at the same moment), else a new one within the maximum.
   */
  private acquire(use: (conn: ClientConn) => void, fresh = false): void {
    for (let conn = fresh ? undefined : this.idle.pop(); conn; conn = this.idle.pop()) {
      // An idle stream of a mux connection going away would only meet the server's close.
      if (conn.socket.closing) {
        conn.socket.destroy();
        continue;
      }
      use(conn);
      return;
    }
    if (this.open >= (this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS)) {
      this.waiting.push(use);
      return;
    }
    this.open++;
    use(new ClientConn(this));
  }

  /** A connection finished an exchange and may carry another. */
  release(conn: ClientConn): void {
    const next = this.waiting.shift();
    if (next) {
      next(conn);
      return;
    }
    if (this.closed || this.idle.length >= (this.options.maxIdle ?? DEFAULT_MAX_IDLE)) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = this.now();
    this.idle.push(conn);
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.expireIdle(), Math.min(1000, this.options.idleTimeoutMs));
      this.sweeper.unref();
    }
  }

  /** The idle list is oldest first: connections idle past the timeout are at its front. */
  private expireIdle(): void {
    const before = this.now() - this.options.idleTimeoutMs;
    while (this.idle.length > 0 && (this.idle[0] as ClientConn).idleSince < before)
      (this.idle.shift() as ClientConn).socket.destroy();
    if (this.idle.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** A connection closed. */
  forget(conn: ClientConn): void {
    this.open--;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // Someone waiting for a connection gets a new one in its place.
    const next = this.waiting.shift();
    if (next && !this.closed) {
      this.open++;
      next(new ClientConn(this));
    }
    if (this.open === 0) this.options.onEmpty?.();
  }

  /** Closes idle connections now and the others when their exchange is done. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  get size(): number {
    return this.open;
  }
}

export class ClientConn implements ClientExchangeConn {
  readonly socket: Conn;
  private readonly parser: Http1Parser;
  private current: ClientExchange | undefined;
  /** Whether the connection carried an exchange before the current one. */
  reused = false;
  /** When the connection last went back to the pool's idle list. */
  idleSince = 0;
  connected = false;
  private gone = false;
  private heads: Array<[ClientExchange, UpstreamResponse]> = [];
  /** The bytes being parsed, which the next read overwrites. */
  parsing: Buffer | undefined;

  constructor(private readonly pool: Http1Pool) {
    const { options } = pool;
    this.parser = new Http1Parser("response", options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, {
      head: (head) => this.current?.head(head) ?? this.unexpected(),
      body: (chunk) => this.current?.body(chunk),
      end: (trailers) => this.current?.end(trailers),
    });
    let socket: Conn;
    try {
      // A socket reads into a buffer of its own, reused for every read; a mux stream needs none.
      socket = options.connect(
        lazyReads((bytes, buffer) => {
          this.onRead(buffer.subarray(0, bytes));
          return true;
        }),
      );
    } catch (err) {
      // Failing to even start (no certificate yet) fails like a connection would, asynchronously.
      const failed = new net.Socket();
      process.nextTick(() => failed.destroy(err as Error));
      socket = failed;
    }
    this.socket = socket;
    const timer = setTimeout(
      () =>
        socket.destroy(
          new Error(`connecting to ${options.target} timed out after ${options.connectTimeoutMs} ms`),
        ),
      options.connectTimeoutMs,
    );
    socket.once(options.readyEvent, () => {
      clearTimeout(timer);
      this.connected = true;
    });
    socket.on("end", () => {
      const err = this.parser.finish();
      if (err) socket.destroy(new Error(`response cut short: ${err.reason ?? err.code}`));
    });
    let error: Error | undefined;
    socket.on("error", (err) => {
      error = err;
    });
    socket.once("close", () => {
      clearTimeout(timer);
      this.gone = true;
      this.parser.close();
      this.pool.forget(this);
      const ex = this.current;
      this.current = undefined;
      ex?.lost(error);
    });
  }

  /** Bytes read, valid only during this call (the buffer is reused for the next read). */
  private onRead(d: Buffer): void {
    if (d.length > 0) this.current?.heardFrom();
    this.parsing = d;
    const ret = this.parser.execute(d);
    this.parsing = undefined;
    const heads = this.heads;
    if (heads.length > 0) {
      this.heads = [];
      for (const [ex, res] of heads) ex.deliver(res);
    }
    if (ret instanceof Error) this.socket.destroy(new Error(`malformed response: ${ret.reason ?? ret.code}`));
  }

  /** A response head parsed: delivered when the parser returns. */
  answered(ex: ClientExchange, res: UpstreamResponse): void {
    this.heads.push([ex, res]);
  }

  send(ex: ClientExchange): void {
    if (this.gone) {
      ex.lost(new Error("the connection closed"));
      return;
    }
    this.current = ex;
    ex.write();
  }

  /** The exchange is over; the connection carries the next one if both sides can. */
  done(ex: ClientExchange, reusable: boolean): void {
    if (this.current !== ex) return;
    this.current = undefined;
    if (!reusable || this.gone) {
      this.socket.destroy();
      return;
    }
    this.reused = true;
    // A body that met backpressure paused the socket; the next exchange must be able to read it.
    this.socket.resume();
    this.pool.release(this);
  }

  private unexpected(): number {
    // A response nobody asked for: the connection is out of step.
    this.socket.destroy();
    return SKIP_BODY;
  }

  get target(): string {
    return this.pool.options.target;
  }
}

/** Pools by endpoint, each forgotten when its last connection closes. */
export class Http1Pools {
  private readonly pools = new Map<string, Http1Pool>();

  get(key: string, options: () => Http1PoolOptions): Http1Pool {
    let pool = this.pools.get(key);
    if (!pool) {
      const created = new Http1Pool({
        ...options(),
        onEmpty: () => {
          if (this.pools.get(key) === created) this.pools.delete(key);
        },
      });
      pool = created;
      this.pools.set(key, pool);
    }
    return pool;
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }
}
