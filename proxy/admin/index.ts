/**
 * The admin server (:4191): `/metrics` for Prometheus, `/ready` (200 once the proxy has its
 * certificate and listens, 503 while starting or draining), `/live` (200 while the process runs).
 */

import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ListenAddr } from "../config.js";
import { http } from "../http/node-http.js";
import type { ProxyMetrics } from "../metrics/index.js";
import { listenOn } from "../transport/net.js";
import { Shedding } from "../transport/shed.js";

export interface AdminOptions {
  listen: ListenAddr;
  metrics: ProxyMetrics;
  ready: () => boolean;
  headersTimeoutMs: number;
  maxHeaderBytes: number;
  /** Connections held at once; past it new ones are closed on accept. */
  maxConnections: number;
}

export class Admin {
  private readonly server: Server;
  private readonly shedding: Shedding;

  constructor(private readonly options: AdminOptions) {
    this.server = http.createServer(
      {
        maxHeaderSize: options.maxHeaderBytes,
        headersTimeout: options.headersTimeoutMs,
        requestTimeout: options.headersTimeoutMs * 3,
        connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
      },
      (req, res) => void this.serve(req, res),
    );
    this.shedding = new Shedding("admin", (l, r) => options.metrics.connectionShed(l, r));
    this.shedding.limit(this.server, options.maxConnections);
    // Listening for client errors takes over node:http's answer to them, given here as it would.
    this.server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
      const timedOut = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
      if (timedOut) this.shedding.shed("header_timeout", { remote: (socket as Socket).remoteAddress });
      const status = timedOut ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      if (socket.writable && err.code !== "ECONNRESET")
        socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      socket.destroy();
    });
  }

  listen(): Promise<string> {
    return listenOn(this.server, this.options.listen);
  }

  close(): void {
    this.shedding.close();
    this.server.close();
    this.server.closeAllConnections();
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(res, 405, "method not allowed: the admin server answers GET\n", { allow: "GET, HEAD" });
    }
    switch (path) {
      case "/metrics": {
        const { contentType, body } = await this.options.metrics.render();
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      case "/ready":
        return this.options.ready() ? text(res, 200, "ready\n") : text(res, 503, "not ready\n");
      case "/live":
        return text(res, 200, "live\n");
      default:
        return text(res, 404, "not found: the admin server serves /metrics, /ready and /live\n");
    }
  }
}

function text(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
