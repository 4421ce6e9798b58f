/**
 * The outbound side (:4140): plaintext from the app, on its way to a destination. A request passes
 * through one file per stage, each calling the next, in this order:
 *
 * - index.ts (accept, detect): the listener. A connection iptables redirected here has its original
 *   destination read (transport/original-dst.ts) and goes to intercepted.ts, which asks the
 *   destination service about that address before anything else. Any other connection's first bytes
 *   decide its protocol (HTTP/1.1 or HTTP/2), and each request goes on to the route stage.
 * - intercepted.ts: a redirected connection by its original destination: unknown addresses are
 *   forwarded as they are, opaque ports proxied at once, HTTP detected and routed, anything else
 *   proxied opaquely.
 * - route.ts (logical): the authority's ServiceProfile: traffic split, route match, the route's
 *   metrics and timeout. A retryable route goes through retry.ts, any other straight to balance.ts.
 * - retry.ts: a failed attempt is sent again to a new pick, within the service's retry budget.
 * - balance.ts (concrete): the destination's balancer picks an endpoint and hears how it went.
 * - endpoint.ts: what every request to an endpoint shares: address, peer identity, metric labels.
 * - connect.ts: the connection the request travels on: a mux stream or HTTP/2 session over mTLS to
 *   the peer proxy, or plaintext to an endpoint without identity.
 *
 * Byte streams take the same path without the HTTP stages: an HTTP/1.1 Upgrade (upgrade.ts) picks
 * through balance.ts; opaque TCP (opaque.ts) comes from an intercepted connection, or, without
 * interception (where a byte stream does not say where it is going), from a listener of an opaque
 * destination's own (`bind`). Both dial through connect.ts.
 *
 * Without the original destination (the addon is not built, not Linux, or reading it fails) the
 * proxy works as if nothing were intercepted: HTTP routed by Host, opaque TCP only through `bind`
 * listeners. Why is logged once.
 */
import http2 from "node:http2";
import net, { type Server, type Socket } from "node:net";
import { logger } from "../../lib/log.js";
import type { PortSet } from "../../lib/ports.js";
import type { Http2Limits, ListenAddr } from "../config.js";
import type { DestinationResolver } from "../discovery/destinations.js";
import { ProxyError } from "../errors.js";
import { guardSession, serverOptions } from "../http/abuse.js";
import { http2Downstream } from "../http/downstream.js";
import { Http1Server } from "../http/h1/server.js";
import { headerListBytes } from "../http/headers.js";
import { idleSessionDeadline, settingsDeadline } from "../http/sessions.js";
import type { ProxyMetrics } from "../metrics/index.js";
import type { MeshTls } from "../tls/index.js";
import { Connections } from "../transport/connections.js";
import { type Detected, detect, handOff } from "../transport/detect.js";
import { listenOn } from "../transport/net.js";
import type { OriginalDst, OriginalDstReader } from "../transport/original-dst.js";
import { Shedding } from "../transport/shed.js";
import { Balance } from "./balance.js";
import { Connect } from "./connect.js";
import { Endpoints } from "./endpoint.js";
import { Intercepted } from "./intercepted.js";
import { bindOpaque } from "./opaque.js";
import { Retry } from "./retry.js";
import { Router } from "./route.js";
import { Upgrades } from "./upgrade.js";

const log = logger("outbound");

/** The app's connections close after this long without a request (HTTP/1.1 keep-alive, HTTP/2 sessions). */
const IDLE_TIMEOUT_MS = 60_000;

export interface OutboundOptions {
  listen: ListenAddr;
  tls: MeshTls;
  resolver: DestinationResolver;
  metrics: ProxyMetrics;
  detectTimeoutMs: number;
  connectTimeoutMs: number;
  maxHeaderBytes: number;
  /** What an HTTP/2 client may do before it is cut off (TRELLIS_PROXY_HTTP2_*). */
  http2: Http2Limits;
  /** Whether host:port is one of this proxy's own listeners (a request there would loop). */
  isSelf: (host: string, port: number) => boolean;
  /** Reads a redirected connection's original destination. */
  originalDst: OriginalDstReader;
  /** Ports whose intercepted traffic is opaque from the first byte (TRELLIS_PROXY_OPAQUE_PORTS). */
  opaquePorts: PortSet;
  /** Connections each listener (the main one, each opaque bind) holds at once; more are closed on accept. */
  maxConnections: number;
}

export class Outbound {
  readonly connections = new Connections();
  private readonly connect: Connect;
  private readonly router: Router;
  private readonly upgrades: Upgrades;
  private readonly servers: Server[] = [];
  private readonly http1: Http1Server;
  private readonly http2: http2.Http2Server;
  private readonly intercepted: Intercepted;
  /** The original destination of intercepted HTTP/1 connections: the authority of a request without Host. */
  private readonly originalAuthority = new WeakMap<object, string>();
  /** Set once the failure to read an original destination was logged. */
  private originalDstFailed = false;
  private readonly shedding: Shedding;

  constructor(private readonly options: OutboundOptions) {
    const { resolver, metrics } = options;
    this.shedding = new Shedding("outbound", (l, r) => metrics.connectionShed(l, r));
    // The stages, built from the last to the first: each is handed the next.
    this.connect = new Connect(options.tls, options.connectTimeoutMs);
    const endpoints = new Endpoints(metrics, options.isSelf);
    const balance = new Balance(resolver, metrics, endpoints, this.connect);
    this.router = new Router(resolver, metrics, new Retry(metrics, balance, this.connect), balance);
    this.upgrades = new Upgrades(balance, this.connect);
    this.http1 = new Http1Server({
      maxHeaderBytes: options.maxHeaderBytes,
      headersTimeoutMs: options.detectTimeoutMs,
      keepAliveTimeoutMs: IDLE_TIMEOUT_MS,
      onHeadersTimeout: () => this.shedding.shed("header_timeout"),
      onRequest: (down, conn) => {
        if (down.req.authority === "") down.req.authority = this.originalAuthority.get(conn) ?? "";
        this.router.handle(down);
      },
      onUpgrade: (req, socket, rest, reads) => this.upgrades.upgrade(req, socket, rest, reads),
    });
    this.connections.addHttp1Server(this.http1);
    this.http2 = http2.createServer(serverOptions(options.maxHeaderBytes, options.http2));
    this.http2.on("stream", (stream, headers, flags) => {
      // Reset by the client in the read that opened it (Node hands streams over a tick late): sending
      // it on would only make the peer cancel it too.
      if (stream.aborted) return;
      const down = http2Downstream(stream, headers, flags);
      if (headerListBytes(headers) > options.maxHeaderBytes)
        down.fail(new ProxyError("TRELLIS_E_PROXY_HEADERS_TOO_LARGE"));
      else this.router.handle(down);
    });
    this.http2.on("session", (session) => {
      this.connections.addSession(session);
      settingsDeadline(session, options.detectTimeoutMs);
      idleSessionDeadline(session, IDLE_TIMEOUT_MS);
      guardSession(session, options.http2, (reason) => metrics.http2CutOff("outbound", reason));
    });
    this.http2.on("sessionError", (err) => log.debug({ err: err.message }, "client session error"));
    this.intercepted = new Intercepted({
      resolver,
      connect: this.connect,
      metrics,
      opaquePorts: options.opaquePorts,
      detectTimeoutMs: options.detectTimeoutMs,
      isSelf: options.isSelf,
      http: (socket, detected, authority) => {
        this.originalAuthority.set(socket, authority);
        this.http(socket, detected);
      },
    });
  }

  /** Starts listening; resolves the bound addresses (main listener first, then opaque binds). */
  async listen(): Promise<string[]> {
    // Half-open: a client may end its side after a request and still read the response.
    const main = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    this.shedding.limit(main, this.options.maxConnections);
    const addresses = [await listenOn(main, this.options.listen)];
    this.servers.push(main);
    const why = this.options.originalDst.unavailable;
    if (why)
      log.warn(
        { why },
        "original destinations cannot be read: HTTP is routed by Host, opaque TCP only through bind listeners",
      );
    const stage = { connect: this.connect, metrics: this.options.metrics };
    for (const dest of this.options.resolver.bound()) {
      const server = bindOpaque(dest, stage, this.connections);
      this.shedding.limit(server, this.options.maxConnections);
      addresses.push(await listenOn(server, dest.config.bind as ListenAddr));
      this.servers.push(server);
    }
    return addresses;
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    this.options.metrics.connection(
      { direction: "outbound", peer: "src", tls: "no_identity", no_tls_reason: "loopback" },
      socket,
    );
    socket.on("error", (err) => log.debug({ err: err.message }, "app connection error"));
    const original = this.originalDst(socket);
    if (original) {
      this.intercepted.accept(socket, original);
      return;
    }
    void detect(socket, this.options.detectTimeoutMs).then((detected) => {
      const { protocol } = detected;
      if (protocol === "http1" || protocol === "http2") this.http(socket, detected);
      else {
        // Thousands of such connections are one burst in the log, not a line each.
        if (protocol !== "closed")
          this.shedding.shed(protocol === "timeout" ? "detect_timeout" : "not_http", {
            remote: socket.remoteAddress,
            code: protocol === "timeout" ? "TRELLIS_E_PROXY_DETECT_TIMEOUT" : "TRELLIS_E_PROXY_NOT_HTTP",
          });
        socket.destroy();
      }
    });
  }

  /** Where the app was going, when iptables redirected the connection here. */
  private originalDst(socket: Socket): OriginalDst | undefined {
    const reader = this.options.originalDst;
    if (reader.unavailable) return undefined;
    const result = reader.read(socket);
    if (result.kind === "redirected") return result.dst;
    if (result.kind === "failed" && !this.originalDstFailed) {
      this.originalDstFailed = true;
      log.warn(
        { code: result.code, err: result.message },
        "cannot read a connection's original destination; routing it by Host (logged once)",
      );
    }
    return undefined;
  }

  private http(socket: Socket, detected: Detected): void {
    if (detected.protocol === "http1") {
      this.http1.accept(socket, detected.head);
      socket.resume();
    } else handOff(socket, detected, this.http2);
  }

  /** Stops accepting, lets in-flight requests finish within the grace period, closes sessions. */
  async drain(graceMs: number): Promise<void> {
    for (const server of this.servers) server.close();
    await this.connections.drain(graceMs);
    this.connect.close();
    this.shedding.close();
  }
}
