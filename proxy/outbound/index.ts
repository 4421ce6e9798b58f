/**
 * The outbound side (:4140): plaintext from the app, on its way to a destination. A request passes
 * through one file per stage, each calling the next, in this order:
 *
 * - index.ts (accept, detect): the listener; a connection's first bytes decide its protocol
 *   (HTTP/1.1 or HTTP/2), and each request goes on to the route stage.
 * - route.ts (logical): the authority's ServiceProfile: traffic split, route match, the route's
 *   metrics and timeout. A retryable route goes through retry.ts, any other straight to balance.ts.
 * - retry.ts: a failed attempt is sent again to a new pick, within the service's retry budget.
 * - balance.ts (concrete): the destination's balancer picks an endpoint and hears how it went.
 * - endpoint.ts: what every request to an endpoint shares: address, peer identity, metric labels.
 * - connect.ts: the connection the request travels on: a mux stream or HTTP/2 session over mTLS to
 *   the peer proxy, or plaintext to an endpoint without identity.
 *
 * Byte streams take the same path without the HTTP stages: an HTTP/1.1 Upgrade (upgrade.ts) picks
 * through balance.ts; an opaque TCP destination (opaque.ts) has a listener of its own (`bind`),
 * since without the original destination address a byte stream does not say where it is going.
 * Both dial through connect.ts.
 */
import http2 from "node:http2";
import net, { type Server, type Socket } from "node:net";
import { logger } from "../../lib/log.js";
import type { ListenAddr } from "../config.js";
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
import { detect, handOff } from "../transport/detect.js";
import { listenOn } from "../transport/net.js";
import { Balance } from "./balance.js";
import { Connect } from "./connect.js";
import { Endpoints } from "./endpoint.js";
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
  /** Whether host:port is one of this proxy's own listeners (a request there would loop). */
  isSelf: (host: string, port: number) => boolean;
}

export class Outbound {
  readonly connections = new Connections();
  private readonly connect: Connect;
  private readonly router: Router;
  private readonly upgrades: Upgrades;
  private readonly servers: Server[] = [];
  private readonly http1: Http1Server;
  private readonly http2: http2.Http2Server;

  constructor(private readonly options: OutboundOptions) {
    const { resolver, metrics } = options;
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
      onRequest: (down) => this.router.handle(down),
      onUpgrade: (req, socket, rest, reads) => this.upgrades.upgrade(req, socket, rest, reads),
    });
    this.connections.addHttp1Server(this.http1);
    this.http2 = http2.createServer(serverOptions(options.maxHeaderBytes));
    this.http2.on("stream", (stream, headers, flags) => {
      const down = http2Downstream(stream, headers, flags);
      if (headerListBytes(headers) > options.maxHeaderBytes)
        down.fail(new ProxyError("TRELLIS_E_PROXY_HEADERS_TOO_LARGE"));
      else this.router.handle(down);
    });
    this.http2.on("session", (session) => {
      this.connections.addSession(session);
      settingsDeadline(session, options.detectTimeoutMs);
      idleSessionDeadline(session, IDLE_TIMEOUT_MS);
      guardSession(session, (reason) => metrics.http2CutOff("outbound", reason));
    });
    this.http2.on("sessionError", (err) => log.debug({ err: err.message }, "client session error"));
  }

  /** Starts listening; resolves the bound addresses (main listener first, then opaque binds). */
  async listen(): Promise<string[]> {
    // Half-open: a client may end its side after a request and still read the response.
    const main = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    const addresses = [await listenOn(main, this.options.listen)];
    this.servers.push(main);
    for (const dest of this.options.resolver.bound()) {
      const server = bindOpaque(dest, this.connect, this.options.metrics, this.connections);
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
    void detect(socket, this.options.detectTimeoutMs).then((detected) => {
      const { protocol } = detected;
      if (protocol === "http1") {
        this.http1.accept(socket, detected.head);
        socket.resume();
      } else if (protocol === "http2") handOff(socket, detected, this.http2);
      else {
        if (protocol !== "closed") {
          log.warn(
            {
              remote: socket.remoteAddress,
              code: protocol === "timeout" ? "TRELLIS_E_PROXY_DETECT_TIMEOUT" : "TRELLIS_E_PROXY_NOT_HTTP",
            },
            protocol === "timeout"
              ? "the app sent no request in time; closing"
              : "the app's connection is not HTTP; closing",
          );
        }
        socket.destroy();
      }
    });
  }

  /** Stops accepting, lets in-flight requests finish within the grace period, closes sessions. */
  async drain(graceMs: number): Promise<void> {
    for (const server of this.servers) server.close();
    await this.connections.drain(graceMs);
    this.connect.close();
  }
}
