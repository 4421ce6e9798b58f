/**
 * Inbound HTTP (after the TLS accept): requests from peer proxies, counted under the client's SPIFFE
 * ID, each checked against the ports the app may be reached on (ports.ts) and forwarded to the app
 * (app.ts). Three ways in, by ALPN: an HTTP/2 session (each request names its app port in
 * `trellis-dst-port`), HTTP/1.1 on the streams of a mux connection (each stream served as an
 * HTTP/1.1 connection, the port in the same header), and plain HTTP/1.1 from a mesh client that
 * does not speak mux.
 */
import http2, { type Http2Session } from "node:http2";
import type { TLSSocket } from "node:tls";
import { logger } from "../../lib/log.js";
import type { Http2Limits } from "../config.js";
import { ProxyError } from "../errors.js";
import { guardSession, resetStream, serverOptions } from "../http/abuse.js";
import { http2Downstream } from "../http/downstream.js";
import { refuse } from "../http/exchange.js";
import { Http1Server } from "../http/h1/server.js";
import { DST_PORT_HEADER, first, headerListBytes } from "../http/headers.js";
import { idleSessionDeadline, settingsDeadline } from "../http/sessions.js";
import type { ProxyMetrics, StackLabels } from "../metrics/index.js";
import { spiffeIdOf } from "../tls/index.js";
import type { Connections } from "../transport/connections.js";
import { MuxConnection, MuxStream } from "../transport/mux/index.js";
import { readInto } from "../transport/reads.js";
import type { Shedding } from "../transport/shed.js";
import type { App } from "./app.js";
import { appPort, type PortPolicy } from "./ports.js";

const { NGHTTP2_REFUSED_STREAM } = http2.constants;
const log = logger("inbound");

/**
 * A connection from a peer closes after this long without a request: a mux connection without a
 * stream (peers close theirs at 60 s), an HTTP/1.1 connection between requests, an HTTP/2 session
 * without a stream.
 */
const IDLE_TIMEOUT_MS = 120_000;

export interface InboundHttpOptions extends PortPolicy {
  metrics: ProxyMetrics;
  /** How long a new connection may take to send its first request (or HTTP/2 settings), ms. */
  detectTimeoutMs: number;
  maxHeaderBytes: number;
  /** What an HTTP/2 client may do before it is cut off (TRELLIS_PROXY_HTTP2_*). */
  http2: Http2Limits;
  /** Streams a peer may hold open at once on one mux connection. */
  muxMaxStreams: number;
}

export class InboundHttp {
  private readonly h2: http2.Http2Server;
  private readonly h1: Http1Server;
  private readonly sessionLabels = new WeakMap<Http2Session, StackLabels>();
  private readonly socketLabels = new WeakMap<object, StackLabels>();
  /** Mux connections from peers, told to go away when the proxy drains. */
  private readonly muxes = new Set<MuxConnection>();

  constructor(
    private readonly options: InboundHttpOptions,
    connections: Connections,
    app: App,
    shedding: Shedding,
  ) {
    this.h2 = http2.createServer(serverOptions(options.maxHeaderBytes, options.http2));
    this.h2.on("session", (session) => {
      connections.addSession(session);
      settingsDeadline(session, options.detectTimeoutMs);
      idleSessionDeadline(session, IDLE_TIMEOUT_MS);
      guardSession(session, options.http2, (reason) => options.metrics.http2CutOff("inbound", reason));
      const clientId = spiffeIdOf((session.socket as TLSSocket).getPeerCertificate());
      this.sessionLabels.set(
        session,
        options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId }),
      );
    });
    this.h2.on("stream", (stream, headers, flags) => {
      // Reset by the peer in the read that opened it (Node hands streams over a tick late): nothing to do.
      if (stream.aborted) return;
      const labels = this.sessionLabels.get(stream.session as Http2Session) ?? {};
      const down = http2Downstream(stream, headers, flags);
      const rec = options.metrics.request(labels);
      const port =
        headerListBytes(headers) > options.maxHeaderBytes
          ? new ProxyError("TRELLIS_E_PROXY_HEADERS_TOO_LARGE")
          : appPort(first(headers[DST_PORT_HEADER]), options);
      if (port instanceof ProxyError) {
        refuse(down, rec, port);
        return;
      }
      // The proxy's own reset, not counted against the peer's reset budget.
      app.forwardHttp2(down, port, rec, () => resetStream(stream, NGHTTP2_REFUSED_STREAM));
    });
    this.h2.on("sessionError", (err) => log.debug({ err: err.message }, "peer session error"));

    this.h1 = new Http1Server({
      maxHeaderBytes: options.maxHeaderBytes,
      headersTimeoutMs: options.detectTimeoutMs,
      keepAliveTimeoutMs: IDLE_TIMEOUT_MS,
      onHeadersTimeout: () => shedding.shed("header_timeout"),
      onRequest: (down, socket, hop) => {
        const labels = this.socketLabels.get(socket) ?? {};
        const port = appPort(hop.dstPort, options);
        const rec = options.metrics.request(labels);
        if (port instanceof ProxyError) {
          refuse(down, rec, port);
          return;
        }
        app.forwardHttp1(down, port, rec, socket instanceof MuxStream ? () => socket.refuse() : undefined);
      },
      // Upgrades between proxies travel as opaque streams, never inside a pooled connection.
    });
    connections.addHttp1Server(this.h1);
  }

  /** An HTTP/2 connection from a peer proxy. */
  http2(socket: TLSSocket): void {
    this.h2.emit("connection", socket);
  }

  /** Plain HTTP/1.1 from a mesh client that does not speak mux. */
  http1(socket: TLSSocket, clientId: string): void {
    this.socketLabels.set(
      socket,
      this.options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId }),
    );
    this.h1.accept(socket);
  }

  /** HTTP/1.1 from a peer proxy: each stream of the connection is served as a connection of its own. */
  mux(socket: TLSSocket, clientId: string): void {
    const labels = this.options.metrics.stack({ direction: "inbound", tls: "true", client_id: clientId });
    const conn = new MuxConnection({
      role: "server",
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      openTimeoutMs: this.options.detectTimeoutMs,
      maxStreams: this.options.muxMaxStreams,
      onRefused: () => this.options.metrics.muxStreamRefused("max_streams"),
      onCutOff: (reason) => this.options.metrics.muxCutOff(reason),
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

  /** Tells every mux connection from a peer to open no more streams (draining). */
  goAway(): void {
    for (const conn of this.muxes) conn.goAway();
  }
}
