/**
 * The inbound side (:4143): mTLS only, from peer proxies to this pod's app. A connection passes
 * through one file per stage, in this order:
 *
 * - index.ts (accept): TLS termination. A client must present a certificate chaining to the trust
 *   anchors; its SPIFFE ID is recorded on every metric. ALPN decides what the connection carries.
 * - http.ts (`h2`, `trellis.dev/mux/v1`, `http/1.1`): peers' HTTP requests, each naming its app port.
 *   opaque.ts (`trellis.dev/opaque/v1`): one opaque stream to the app port in its header.
 * - ports.ts: the security boundary: whether the named port may be reached at all.
 * - app.ts: forwarding to the app on TRELLIS_PROXY_INBOUND_APP_HOST, in plaintext.
 */
import type { Server } from "node:net";
import type { TLSSocket } from "node:tls";
import { logger } from "../../lib/log.js";
import type { ListenAddr } from "../config.js";
import { ALPN_H2, ALPN_HTTP1, ALPN_MUX, ALPN_OPAQUE, type MeshTls, spiffeIdOf } from "../tls/index.js";
import { Connections } from "../transport/connections.js";
import { listenOn } from "../transport/net.js";
import { Shedding } from "../transport/shed.js";
import { App } from "./app.js";
import { InboundHttp, type InboundHttpOptions } from "./http.js";
import { forwardOpaque, type OpaqueOptions } from "./opaque.js";

const log = logger("inbound");

export interface InboundOptions extends InboundHttpOptions, OpaqueOptions {
  listen: ListenAddr;
  tls: MeshTls;
  appHost: string;
  connectTimeoutMs: number;
  tlsHandshakeTimeoutMs: number;
  /** Connections the listener holds at once; past it new ones are closed on accept. */
  maxConnections: number;
}

export class Inbound {
  readonly connections = new Connections();
  private server: Server | undefined;
  private readonly app: App;
  private readonly http: InboundHttp;
  private readonly shedding: Shedding;

  constructor(private readonly options: InboundOptions) {
    this.app = new App(options.appHost, options.connectTimeoutMs);
    this.shedding = new Shedding("inbound", (l, r) => options.metrics.connectionShed(l, r));
    this.http = new InboundHttp(options, this.connections, this.app, this.shedding);
  }

  async listen(): Promise<string> {
    const server = this.options.tls.createServer(
      [ALPN_H2, ALPN_MUX, ALPN_HTTP1, ALPN_OPAQUE],
      this.options.tlsHandshakeTimeoutMs,
    );
    this.shedding.limit(server, this.options.maxConnections);
    server.on("secureConnection", (socket: TLSSocket) => this.accept(socket));
    server.on("tlsClientError", (err: Error & { code?: string }, socket) => {
      log.debug({ err: err.message, remote: socket.remoteAddress }, "TLS handshake refused");
      const timedOut = err.code === "ERR_TLS_HANDSHAKE_TIMEOUT";
      this.shedding.shed(timedOut ? "handshake_timeout" : "handshake_failed", {
        remote: socket.remoteAddress,
        ...(timedOut ? {} : { err: err.message }),
      });
      // With a listener here Node leaves the socket open (even on its handshake timeout): a client
      // trickling a ClientHello would hold the connection forever.
      socket.destroy();
    });
    this.server = server;
    return listenOn(server, this.options.listen);
  }

  private accept(socket: TLSSocket): void {
    // Responses go out as several small writes (headers, data, trailers): never wait for ACKs between them.
    socket.setNoDelay(true);
    const clientId = spiffeIdOf(socket.getPeerCertificate());
    if (!clientId) {
      log.warn({ remote: socket.remoteAddress }, "client certificate has no SPIFFE ID; closing");
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.on("error", (err) => log.debug({ err: err.message }, "peer connection error"));
    this.options.metrics.connection(
      { direction: "inbound", peer: "src", tls: "true", client_id: clientId },
      socket,
    );
    if (socket.alpnProtocol === ALPN_H2) {
      this.http.http2(socket);
    } else if (socket.alpnProtocol === ALPN_HTTP1) {
      this.http.http1(socket, clientId);
    } else if (socket.alpnProtocol === ALPN_MUX) {
      this.http.mux(socket, clientId);
    } else if (socket.alpnProtocol === ALPN_OPAQUE) {
      void forwardOpaque(socket, clientId, this.app, this.options);
    } else {
      log.warn({ client: clientId, alpn: socket.alpnProtocol }, "no mesh protocol negotiated; closing");
      socket.destroy();
    }
  }

  /** Stops accepting, lets in-flight requests finish within the grace period, closes connections to the app. */
  async drain(graceMs: number): Promise<void> {
    this.server?.close();
    this.http.goAway();
    await this.connections.drain(graceMs);
    this.app.close();
    this.shedding.close();
  }
}
