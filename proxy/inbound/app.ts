/**
 * Forwarding to the app (the last inbound stage): what passed the port check goes to the app on
 * TRELLIS_PROXY_INBOUND_APP_HOST in plaintext: HTTP/1.1 from a keep-alive pool per app port, HTTP/2
 * on a session per app port, an opaque stream on a TCP connection of its own. A connection the app
 * refuses is the app's failure (TRELLIS_E_PROXY_APP_UNREACHABLE), not the network's.
 */

import type { Socket } from "node:net";
import { formatHostPort } from "../../lib/address.js";
import { ProxyError } from "../errors.js";
import { type Downstream, exchange, type Upstream } from "../http/exchange.js";
import { type Http1PoolOptions, Http1Pools, plainPoolOptions } from "../http/h1/client.js";
import type { Headers } from "../http/headers.js";
import { SessionPool } from "../http/sessions.js";
import { http2Upstream } from "../http/upstream.js";
import type { RequestRecorder } from "../metrics/index.js";
import { connectPlain } from "../transport/net.js";

export class App {
  private readonly h1 = new Http1Pools();
  /** Per app port, the pool's key and options, made once rather than per request. */
  private readonly ports = new Map<number, { target: string; options: () => Http1PoolOptions }>();
  private readonly h2: SessionPool;

  constructor(
    private readonly host: string,
    private readonly connectTimeoutMs: number,
  ) {
    this.h2 = new SessionPool((key) => connectPlain(key, connectTimeoutMs));
  }

  /**
   * Sends an HTTP/1.1 request to the app's `port` and the response back to the peer. `refuse`, where
   * the peer's protocol can say so, tells the peer the app never saw the request (see {@link refusing}).
   */
  forwardHttp1(down: Downstream, port: number, rec: RequestRecorder, refuse?: () => void): void {
    const pool = this.pool(port);
    exchange(refusing(down, refuse), appErrors(pool.upstream(), pool.options.target), rec);
  }

  /** Sends an HTTP/2 request to the app's `port` and the response back to the peer; `refuse` as above. */
  forwardHttp2(down: Downstream, port: number, rec: RequestRecorder, refuse?: () => void): void {
    const target = formatHostPort(this.host, port);
    const upstream = http2Upstream(this.h2.source(target), `app ${target}`, noHeaders);
    exchange(refusing(down, refuse), appErrors(upstream, target), rec);
  }

  /** A TCP connection to the app's `port`, for an opaque stream. */
  connect(port: number): Promise<Socket> {
    return connectPlain(formatHostPort(this.host, port), this.connectTimeoutMs);
  }

  /** Closes sessions and pooled connections gracefully (in-flight requests finish). */
  close(): void {
    this.h2.close();
    this.h1.close();
  }

  /** The keep-alive pool of plaintext HTTP/1.1 connections to one app port. */
  private pool(port: number) {
    let app = this.ports.get(port);
    if (!app) {
      const { host, connectTimeoutMs } = this;
      app = {
        target: `${host}:${port}`,
        options: () => plainPoolOptions(host, port, connectTimeoutMs),
      };
      this.ports.set(port, app);
    }
    return this.h1.get(app.target, app.options);
  }
}

const noHeaders = (): Headers => ({});

/** Connection failures towards the app are the app's, not the network's. */
function appErrors(upstream: Upstream, target: string): Upstream {
  return (req, cb) =>
    upstream(req, (err, res) => {
      if (err && (err.code === "TRELLIS_E_PROXY_CONNECT" || err.code === "TRELLIS_E_PROXY_CONNECT_TIMEOUT")) {
        cb(new ProxyError("TRELLIS_E_PROXY_APP_UNREACHABLE", target));
      } else cb(err, res);
    });
}

/**
 * A request the app never saw, because it refused the connection (it is stopping, or not yet
 * listening), is refused to the peer rather than answered with 502: a mux stream's RESET REFUSED or
 * HTTP/2's REFUSED_STREAM, which lets the peer's proxy send it to another endpoint. Counted here as
 * the failure it was.
 */
function refusing(down: Downstream, refuse: (() => void) | undefined): Downstream {
  if (!refuse) return down;
  return {
    req: down.req,
    respond: (res, done) => down.respond(res, done),
    fail: (err) => (err.code === "TRELLIS_E_PROXY_APP_UNREACHABLE" ? refuse() : down.fail(err)),
    onAbort: (cb) => down.onAbort(cb),
  };
}
