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

  /** Sends an HTTP/1.1 request to the app's `port` and the response back to the peer. */
  forwardHttp1(down: Downstream, port: number, rec: RequestRecorder): void {
    const pool = this.pool(port);
    exchange(down, appErrors(pool.upstream(), pool.options.target), rec);
  }

  /** Sends an HTTP/2 request to the app's `port` and the response back to the peer. */
  forwardHttp2(down: Downstream, port: number, rec: RequestRecorder): void {
    const target = formatHostPort(this.host, port);
    const upstream = http2Upstream(this.h2.source(target), `app ${target}`, noHeaders);
    exchange(down, appErrors(upstream, target), rec);
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
