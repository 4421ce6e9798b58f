/**
 * The inbound side (:4143): mTLS only. A client must present a certificate chaining to the trust
 * anchors; its SPIFFE ID is recorded on every metric. ALPN decides what the connection carries:
 * `h2` is the HTTP/2 session from a peer proxy (each request names its app port in
 * `trellis-dst-port`), `trellis.dev/mux/v1` a peer's HTTP/1.1 on the streams of a mux connection (each
 * stream served as an HTTP/1.1 connection), `http/1.1` plain HTTP/1.1 from a mesh client that does
 * not speak mux, `trellis.dev/opaque/v1` one opaque stream to the app port in its header.
 * Everything goes to the app on TRELLIS_PROXY_INBOUND_APP_HOST.
 */
import http2, { type Http2Session } from "node:http2";
import type { Server } from "node:net";
import type { TLSSocket } from "node:tls";
import { logger } from "../../lib/log.js";
import type { ListenAddr } from "../config.js";
import { ProxyError } from "../errors.js";
import { http2Downstream } from "../http/downstream.js";
import { exchange, refuse, type Upstream } from "../http/exchange.js";
import { type Http1PoolOptions, Http1Pools, plainPoolOptions } from "../http/h1/client.js";
import { Http1Server } from "../http/h1/server.js";
import { DST_PORT_HEADER, first, headerListBytes } from "../http/headers.js";
import {
  idleSessionDeadline,
  MAX_SESSION_MEMORY_MB,
  SESSION_SETTINGS,
  SessionPool,
  settingsDeadline,
} from "../http/sessions.js";
import { http2Upstream } from "../http/upstream.js";
import type { ProxyMetrics, StackLabels } from "../metrics/index.js";
import { ALPN_H2, ALPN_HTTP1, ALPN_MUX, ALPN_OPAQUE, type MeshTls, spiffeIdOf } from "../tls/index.js";
import { Connections } from "../transport/connections.js";
import { MuxConnection } from "../transport/mux/index.js";
import { connectPlain, listenOn } from "../transport/net.js";
import { readOpaqueHeader, splice } from "../transport/opaque.js";
import { readInto, SplicedReads } from "../transport/reads.js";

const log = logger("inbound");

/**
 * A connection from a peer closes after this long without a request: a mux connection without a
 * stream (peers close theirs at 60 s), an HTTP/1.1 connection between requests, an HTTP/2 session
 * without a stream.
 */
const IDLE_TIMEOUT_MS = 120_000;

export interface InboundOptions {
  listen: ListenAddr;
  tls: MeshTls;
  metrics: ProxyMetrics;
  appHost: string;
  /** App ports requests may name; empty: any port but the proxy's own. */
  ports: ReadonlySet<number>;
  /** The proxy's own ports, never forwarded to. */
  ownPorts: () => number[];
  detectTimeoutMs: number;
  connectTimeoutMs: number;
  maxHeaderBytes: number;
}

export class Inbound {
  readonly connections = new Connections();
  private server: Server | undefined;
  private readonly h2: http2.Http2Server;
  private readonly h1: Http1Server;
  private readonly sessionLabels = new WeakMap<Http2Session, StackLabels>();
  private readonly socketLabels = new WeakMap<object, StackLabels>();
  private readonly appH1 = new Http1Pools();
  /** Per app port, the pool's key and options, made once rather than per request. */
  private readonly apps = new Map<number, { target: string; options: () => Http1PoolOptions }>();
  private readonly appH2: SessionPool;
  /** Mux connections from peers, told to go away when the proxy drains. */
  private readonly muxes = new Set<MuxConnection>();

  constructor(private readonly options: InboundOptions) {
    this.appH2 = new SessionPool((key) => connectPlain(key, options.connectTimeoutMs));
    this.h2 = http2.createServer({
      settings: { ...SESSION_SETTINGS, maxHeaderListSize: options.maxHeaderBytes },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    this.h2.on("session", (session) => {
      this.connections.addSession(session);
      settingsDeadline(session, options.detectTimeoutMs);
      idleSessionDeadline(session, IDLE_TIMEOUT_MS);
      const clientId = spiffeIdOf((session.socket as TLSSocket).getPeerCertificate());
      this.sessionLabels.set(
        session,
        options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId }),
      );
    });
    this.h2.on("stream", (stream, headers, flags) => {
      const labels = this.sessionLabels.get(stream.session as Http2Session) ?? {};
      const down = http2Downstream(stream, headers, flags);
      const rec = options.metrics.request(labels);
      const port =
        headerListBytes(headers) > options.maxHeaderBytes
          ? new ProxyError("TRELLIS_E_PROXY_HEADERS_TOO_LARGE")
          : this.appPort(first(headers[DST_PORT_HEADER]));
      if (port instanceof ProxyError) {
        refuse(down, rec, port);
        return;
      }
      const target = `${options.appHost}:${port}`;
      const upstream = http2Upstream(this.appH2.source(target), `app ${target}`, () => ({}));
      exchange(down, appErrors(upstream, target), rec);
    });
    this.h2.on("sessionError", (err) => log.debug({ err: err.message }, "peer session error"));

    this.h1 = new Http1Server({
      maxHeaderBytes: options.maxHeaderBytes,
      headersTimeoutMs: options.detectTimeoutMs,
      keepAliveTimeoutMs: IDLE_TIMEOUT_MS,
      onRequest: (down, socket, hop) => {
        const labels = this.socketLabels.get(socket) ?? {};
        const port = this.appPort(hop.dstPort);
        const rec = options.metrics.request(labels);
        if (port instanceof ProxyError) {
          refuse(down, rec, port);
          return;
        }
        const pool = this.appPool(port);
        exchange(down, appErrors(pool.upstream(), pool.options.target), rec);
      },
      // Upgrades between proxies travel as opaque streams, never inside a pooled connection.
    });
    this.connections.addHttp1Server(this.h1);
  }

  /** The keep-alive pool of plaintext HTTP/1.1 connections to one app port. */
  private appPool(port: number) {
    let app = this.apps.get(port);
    if (!app) {
      const { appHost, connectTimeoutMs } = this.options;
      app = {
        target: `${appHost}:${port}`,
        options: () => plainPoolOptions(appHost, port, connectTimeoutMs),
      };
      this.apps.set(port, app);
    }
    return this.appH1.get(app.target, app.options);
  }

  async listen(): Promise<string> {
    const server = this.options.tls.createServer(
      [ALPN_H2, ALPN_MUX, ALPN_HTTP1, ALPN_OPAQUE],
      this.options.detectTimeoutMs,
    );
    server.on("secureConnection", (socket: TLSSocket) => this.accept(socket));
    server.on("tlsClientError", (err, socket) => {
      log.debug({ err: err.message, remote: socket.remoteAddress }, "TLS handshake refused");
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
      this.h2.emit("connection", socket);
    } else if (socket.alpnProtocol === ALPN_HTTP1) {
      this.socketLabels.set(
        socket,
        this.options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId }),
      );
      this.h1.accept(socket);
    } else if (socket.alpnProtocol === ALPN_MUX) {
      this.mux(socket, clientId);
    } else if (socket.alpnProtocol === ALPN_OPAQUE) {
      void this.opaque(socket, clientId);
    } else {
      log.warn({ client: clientId, alpn: socket.alpnProtocol }, "no mesh protocol negotiated; closing");
      socket.destroy();
    }
  }

  /** HTTP/1.1 from a peer proxy: each stream of the connection is served as a connection of its own. */
  private mux(socket: TLSSocket, clientId: string): void {
    const labels = this.options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId });
    const conn = new MuxConnection({
      role: "server",
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      openTimeoutMs: this.options.detectTimeoutMs,
      onStream: (stream) => {
        this.socketLabels.set(stream, labels);
        this.h1.accept(stream);
      },
      onProtocolError: (err) =>
        log.warn(
          { client: clientId, err: err.message, code: "TRELLIS_E_PROXY_MUX_PROTOCOL" },
          "peer broke the mux protocol; closing",
        ),
    });
    this.muxes.add(conn);
    socket.once("close", () => this.muxes.delete(conn));
    conn.attach(socket);
    readInto(socket, conn.reads);
  }

  private async opaque(socket: TLSSocket, clientId: string): Promise<void> {
    const reads = new SplicedReads();
    readInto(socket, reads);
    const header = await readOpaqueHeader(socket, reads, this.options.detectTimeoutMs);
    const port =
      typeof header === "number"
        ? this.appPort(String(header))
        : new ProxyError("TRELLIS_E_PROXY_OPAQUE_HEADER", header);
    if (port instanceof ProxyError) {
      log.warn({ client: clientId, code: port.code, err: port.message }, "opaque stream refused");
      socket.destroy();
      return;
    }
    connectPlain(`${this.options.appHost}:${port}`, this.options.connectTimeoutMs).then(
      (app) => {
        splice(socket, app, { accepted: reads });
      },
      (err: Error) => {
        log.warn(
          { client: clientId, port, err: err.message, code: "TRELLIS_E_PROXY_APP_UNREACHABLE" },
          "app unreachable",
        );
        socket.destroy();
      },
    );
  }

  /** The app port a request names, if allowed. */
  private appPort(value: string | undefined): number | ProxyError {
    const port = Number(value);
    if (value === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      return new ProxyError("TRELLIS_E_PROXY_NO_DST_PORT", value === undefined ? undefined : `"${value}"`);
    }
    const allowed =
      this.options.ports.size > 0 ? this.options.ports.has(port) : !this.options.ownPorts().includes(port);
    return allowed ? port : new ProxyError("TRELLIS_E_PROXY_PORT_FORBIDDEN", String(port));
  }

  async drain(graceMs: number): Promise<void> {
    this.server?.close();
    for (const conn of this.muxes) conn.goAway();
    await this.connections.drain(graceMs);
    this.appH2.close();
    this.appH1.close();
  }
}

/** Connection failures towards the app are the app's, not the network's. */
function appErrors(upstream: Upstream, target: string): Upstream {
  return (req, cb) =>
    upstream(req, (err, res) => {
      if (err && (err.code === "TRELLIS_E_PROXY_CONNECT" || err.code === "TRELLIS_E_PROXY_CONNECT_TIMEOUT")) {
        cb(new ProxyError("TRELLIS_E_PROXY_APP_UNREACHABLE", target));
      } else cb(err, res);
    });
}
