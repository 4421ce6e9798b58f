/**
 * The HTTP/1.1 client side of the relay: a keep-alive pool of connections to one endpoint (a peer
 * proxy over mTLS, or an app), most recently used first. Each request's head is written in one
 * piece and its body streamed with backpressure; the response is parsed with llhttp and handed on
 * as an UpstreamResponse whose body is read straight off the connection. A request without a body
 * that finds its reused connection closed by the endpoint (it went idle on their side) before any
 * answer is sent once more on a fresh connection: it cannot have been processed.
 */
import net, { type Socket } from "node:net";
import { Readable } from "node:stream";
import { connectError, ProxyError } from "../../errors.js";
import type { ProxyRequest, Upstream, UpstreamResponse } from "../exchange.js";
import { type Headers, splitHeaders, trailersOf } from "../headers.js";
import { lastChunk, pumpBody } from "./body.js";
import { Http1Parser, headerLines, type MessageHead, SKIP_BODY } from "./parser.js";

export interface Http1PoolOptions {
  /** Opens a connection to the endpoint. Bytes written before it is established wait for it. */
  connect(): Socket;
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

  constructor(readonly options: Http1PoolOptions) {}

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
        });
      };
      attempt(true);
      return () => {
        cancelled = true;
        exchange?.cancel();
      };
    };
  }

  private acquire(use: (conn: ClientConn) => void): void {
    const conn = this.idle.pop();
    if (conn) {
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
    this.idle.push(conn);
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
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  get size(): number {
    return this.open;
  }
}

class ClientConn {
  readonly socket: Socket;
  private readonly parser: Http1Parser;
  private current: ClientExchange | undefined;
  /** Whether the connection carried an exchange before the current one. */
  reused = false;
  connected = false;
  private gone = false;
  private heads: Array<[ClientExchange, UpstreamResponse]> = [];

  constructor(private readonly pool: Http1Pool) {
    const { options } = pool;
    this.parser = new Http1Parser("response", options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, {
      begin: () => {},
      head: (head) => this.current?.head(head) ?? this.unexpected(),
      body: (chunk) => this.current?.body(chunk),
      end: (trailers) => this.current?.end(trailers),
    });
    let socket: Socket;
    try {
      socket = options.connect();
    } catch (err) {
      // Failing to even start (no certificate yet) fails like a connection would, asynchronously.
      socket = new net.Socket();
      process.nextTick(() => socket.destroy(err as Error));
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
    socket.on("data", (d: Buffer) => {
      const ret = this.parser.execute(d);
      const heads = this.heads;
      if (heads.length > 0) {
        this.heads = [];
        for (const [ex, res] of heads) ex.deliver(res);
      }
      if (ret instanceof Error) socket.destroy(new Error(`malformed response: ${ret.reason ?? ret.code}`));
    });
    socket.on("end", () => {
      const err = this.parser.finish();
      if (err) socket.destroy(new Error(`response cut short: ${err.reason ?? err.code}`));
    });
    socket.setTimeout(options.idleTimeoutMs);
    socket.on("timeout", () => {
      if (!this.current) socket.destroy();
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

/** A body that is already complete, as a stream for consumers that want one. */
function bufferedBody(chunks: Buffer[]): Readable {
  const body = new Readable({ read() {} });
  for (const chunk of chunks) body.push(chunk);
  body.push(null);
  return body;
}

/** A response body read off the connection; reading on resumes it. */
class ResponseBody extends Readable {
  constructor(private readonly socket: Socket) {
    super();
  }
  override _read(): void {
    this.socket.resume();
  }
}

type ExchangeCallback = (
  err: ProxyError | undefined,
  res: UpstreamResponse | undefined,
  retryable: boolean,
) => void;

class ClientExchange {
  private answered = false;
  private finished = false;
  private requestWritten: boolean;
  private responseComplete = false;
  private keepAlive = false;
  private response: ResponseBody | undefined;
  /** Body chunks parsed before the head was handed on. */
  private early: Buffer[] | undefined;
  private trailers: Headers | undefined;
  private readonly reused: boolean;

  constructor(
    private readonly conn: ClientConn,
    private readonly req: ProxyRequest,
    private readonly extraLines: string,
    private readonly cb: ExchangeCallback,
  ) {
    this.requestWritten = !req.body;
    this.reused = conn.reused;
  }

  write(): void {
    const { req, conn } = this;
    const socket = conn.socket;
    const chunked = req.body !== undefined && req.headers["content-length"] === undefined;
    const head =
      `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n` +
      headerLines(req.headers) +
      this.extraLines +
      (chunked ? "transfer-encoding: chunked\r\n\r\n" : "\r\n");
    const body = req.body;
    if (!body) {
      socket.write(head, "latin1");
      return;
    }
    socket.cork();
    socket.write(head, "latin1");
    pumpBody(body, socket, chunked, {
      ended: () => {
        if (this.finished) return;
        if (chunked) socket.write(lastChunk(undefined), "latin1");
        this.requestWritten = true;
        if (this.responseComplete) this.settle();
      },
      // A body cut short leaves the endpoint waiting for the rest: this connection cannot go on.
      cut: () => {
        if (!this.finished) socket.destroy();
      },
    });
    socket.uncork();
  }

  head(head: MessageHead): number {
    const status = head.status;
    if (status < 200 && status !== 101) return SKIP_BODY; // 100 Continue and other interim answers
    if (this.answered || status === 101) {
      this.conn.socket.destroy();
      return SKIP_BODY;
    }
    this.answered = true;
    this.keepAlive = head.keepAlive;
    const { headers } = splitHeaders(head.rawHeaders);
    const bodiless = this.req.method === "HEAD" || status === 204 || status === 304;
    // Handed on once the bytes at hand are parsed (the body they hold is kept until then), so a
    // response that arrived whole goes on as buffers, without a stream.
    this.early = [];
    this.conn.answered(this, {
      status,
      headers,
      body: undefined as unknown as Readable,
      endStream: bodiless,
      // HTTP/1.1 trailers exist only after a chunked body.
      mayHaveTrailers: !bodiless && headers["content-length"] === undefined,
      trailers: () => this.trailers,
    });
    return bodiless ? SKIP_BODY : 0;
  }

  /** Hands the parsed response head on, with the whole body when it is already here. */
  deliver(res: UpstreamResponse): void {
    const early = this.early ?? [];
    this.early = undefined;
    if (this.responseComplete) {
      res.complete = early;
      let body: Readable | undefined;
      Object.defineProperty(res, "body", {
        get: () => {
          body ??= bufferedBody(early);
          return body;
        },
      });
    } else {
      const response = new ResponseBody(this.conn.socket);
      for (const chunk of early) response.push(chunk);
      this.response = response;
      res.body = response;
    }
    this.cb(undefined, res, false);
  }

  body(chunk: Buffer): void {
    if (this.early) this.early.push(chunk);
    else if (this.response && !this.response.push(chunk)) this.conn.socket.pause();
  }

  end(trailers: string[] | undefined): void {
    if (!this.answered) return; // the end of an interim response
    this.responseComplete = true;
    if (trailers) this.trailers = trailersOf(splitHeaders(trailers).headers);
    this.response?.push(null);
    // A response that came before the whole request was sent ends the connection's use.
    if (this.requestWritten) this.settle();
    else this.conn.done(this, false);
  }

  private settle(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.done(this, this.keepAlive);
  }

  /** The connection closed or failed while this exchange was on it. */
  lost(err: Error | undefined): void {
    if (this.finished && this.responseComplete) return;
    this.finished = true;
    if (!this.answered) {
      this.answered = true;
      const target = this.conn.target;
      // Only a reused connection that fails before any answer may be retried by the pool.
      const retryable = this.reused;
      if (!this.conn.connected)
        this.cb(connectError(err ?? new Error("connection closed"), target), undefined, retryable);
      else
        this.cb(
          new ProxyError(
            "TRELLIS_E_PROXY_UPSTREAM_RESET",
            `${target}: ${err?.message ?? "the connection closed before the response"}`,
          ),
          undefined,
          retryable,
        );
      return;
    }
    if (!this.responseComplete) this.response?.destroy(err ?? new Error("the response was cut short"));
  }

  /** The client went away: the connection is dropped mid-exchange. */
  cancel(): void {
    if (this.finished && this.responseComplete) return;
    this.finished = true;
    this.answered = true;
    this.conn.socket.destroy();
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
