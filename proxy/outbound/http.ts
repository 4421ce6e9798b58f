/**
 * Outbound HTTP: route a request by its authority, pick an endpoint, and send it. A meshed endpoint
 * gets it over one mTLS connection to its proxy (the peer's SPIFFE ID verified first), with the app
 * port in a mesh header: HTTP/2 and gRPC on an HTTP/2 session, HTTP/1.1 on the streams of a mux
 * connection. An endpoint without identity, or an authority the proxy has no destination for, gets
 * it directly in plaintext (`tls="no_identity"`).
 */
import { type Duplex, PassThrough, Readable } from "node:stream";
import { parseHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import type { Release } from "../balance/index.js";
import { type EndpointConfig, normalizeAuthority } from "../config.js";
import { connectError, ProxyError } from "../errors.js";
import { upgradeRefusal } from "../http/error-response.js";
import { type Downstream, exchange, refuse, type Upstream, withTimeout } from "../http/exchange.js";
import { Http1Pools, plainPoolOptions } from "../http/h1/client.js";
import { headerLines } from "../http/h1/parser.js";
import type { UpgradeRequest } from "../http/h1/server.js";
import { DST_PORT_HEADER, type Headers } from "../http/headers.js";
import { SessionPool } from "../http/sessions.js";
import { http2Upstream } from "../http/upstream.js";
import {
  classify,
  dstLabels,
  type ProxyMetrics,
  type RequestRecorder,
  type StackLabels,
} from "../metrics/index.js";
import { MAX_RETRY_BODY_BYTES } from "../profiles/retries.js";
import { type CompiledProfile, type CompiledRoute, pickWeighted, routeFor } from "../profiles/routes.js";
import { ALPN_H2, ALPN_MUX, ALPN_OPAQUE, type MeshTls } from "../tls/index.js";
import { MUX_READY, MuxClient } from "../transport/mux/index.js";
import { connectPlain } from "../transport/net.js";
import { encodeOpaqueHeader, splice } from "../transport/opaque.js";
import { SplicedReads } from "../transport/reads.js";
import type { Destination, DestinationResolver } from "./destinations.js";

const log = logger("outbound");

/** Idle pooled streams, and then mux connections without streams, close after this (peers wait 120 s). */
const MESH_IDLE_TIMEOUT_MS = 60_000;

export interface OutboundDeps {
  tls: MeshTls;
  resolver: DestinationResolver;
  metrics: ProxyMetrics;
  connectTimeoutMs: number;
  /** Whether host:port is one of this proxy's own listeners (a request there would loop). */
  isSelf: (host: string, port: number) => boolean;
}

/** An endpoint as requests use it, worked out once per endpoint. */
interface EndpointRoute {
  host: string;
  port: number;
  /** The peer proxy's identity and inbound port, when meshed. */
  peer: { identity: string; inboundPort: number; key: string; h1Lines: string } | undefined;
  labels: StackLabels;
}

/** Where one request goes. */
interface Target extends EndpointRoute {
  /** Reports the request's outcome to the balancer that picked the endpoint. */
  release: Release | undefined;
}

/** Sessions to peers are keyed `host:inboundPort identity`. */
const peerKey = (host: string, port: number, identity: string) => `${host}:${port} ${identity}`;

export class OutboundHttp {
  private readonly peers: SessionPool;
  private readonly plainH2: SessionPool;
  /** Keep-alive pools of HTTP/1.1 connections: mTLS to peers, plaintext to unmeshed endpoints. */
  private readonly http1 = new Http1Pools();
  private readonly endpoints = new WeakMap<EndpointConfig, EndpointRoute | ProxyError>();
  private readonly unknownLabels = new Map<string, StackLabels>();

  constructor(private readonly deps: OutboundDeps) {
    this.peers = new SessionPool((key) => {
      const space = key.indexOf(" ");
      const addr = parseHostPort(key.slice(0, space));
      if (!addr) return Promise.reject(new Error(`bad peer key ${key}`));
      return deps.tls.connect(addr.host, addr.port, key.slice(space + 1), ALPN_H2, deps.connectTimeoutMs);
    });
    this.plainH2 = new SessionPool((key) => connectPlain(key, deps.connectTimeoutMs));
  }

  handle(down: Downstream): void {
    const pending = this.deps.resolver.prepare?.(down.req.authority);
    if (pending) void pending.then(() => this.route(down));
    else this.route(down);
  }

  /** Applies the authority's profile: a traffic split picks the backend, the first matching route its policy. */
  private route(down: Downstream): void {
    const profile = this.deps.resolver.profile?.(down.req.authority);
    const backend =
      profile && profile.dstOverrides.length > 0 ? pickWeighted(profile.dstOverrides) : undefined;
    const pending = backend ? this.deps.resolver.prepare?.(backend) : undefined;
    if (pending) void pending.then(() => this.dispatch(down, profile, backend));
    else this.dispatch(down, profile, backend);
  }

  private dispatch(
    down: Downstream,
    profile: CompiledProfile | undefined,
    backend: string | undefined,
  ): void {
    const { metrics } = this.deps;
    const target = this.target(backend ?? down.req.authority);
    const route = routeFor(profile, down.req.method, down.req.path);
    const routeRec = profile && route ? metrics.route(profile.name, route.name) : undefined;
    if (target instanceof ProxyError) {
      const rec = withRoute(
        metrics.request(metrics.stack({ direction: "outbound", authority: down.req.authority })),
        routeRec,
        route,
      );
      refuse(down, rec, target);
      return;
    }
    if (profile && route?.isRetryable) {
      void this.retrying(down, profile, backend, route, target, routeRec);
      return;
    }
    const rec = withRoute(balanced(metrics.request(target.labels), target.release), routeRec, route);
    const upstream = this.upstream(down, target);
    exchange(
      down,
      route?.timeoutMs ? withTimeout(upstream, route.timeoutMs, `route ${route.name}`) : upstream,
      rec,
    );
  }

  /**
   * A retryable route: a failed attempt (an error, or a response its classes or a 5xx call failed)
   * is sent again to a newly picked endpoint while the service's retry budget allows. A body up to
   * 64 KiB is kept to be sent again; a larger one makes the request not retryable. The route's
   * timeout bounds all attempts together.
   */
  private async retrying(
    down: Downstream,
    profile: CompiledProfile,
    backend: string | undefined,
    route: CompiledRoute,
    first: Target,
    routeRec: RequestRecorder | undefined,
  ): Promise<void> {
    profile.budget.request();
    const rec = withRoute(this.deps.metrics.request(first.labels), routeRec, route);
    let body: Buffer | undefined;
    let replayable = true;
    if (down.req.body) {
      let kept: Awaited<ReturnType<typeof keepBody>>;
      try {
        kept = await keepBody(down.req.body, MAX_RETRY_BODY_BYTES);
      } catch {
        // The client went away while sending the body: nothing to send, nobody to answer.
        rec.end({ status: 0, failed: true });
        return;
      }
      if (kept.complete) body = kept.buffer;
      else {
        replayable = false;
        down.req.body = kept.stream;
      }
    }
    const attempts: Upstream = (req, cb) => {
      let cancelled = false;
      let cancel = () => {};
      const attempt = (target: Target) => {
        const start = performance.now();
        const again = body ? { ...req, body: Readable.from([body]) } : req;
        cancel = this.upstream(down, target)(again, (err, res) => {
          const failed = err !== undefined || !res || (route.isFailure(res.status) ?? res.status >= 500);
          target.release?.({ ok: !failed, rttMs: performance.now() - start });
          if (failed && !cancelled && replayable && profile.budget.tryRetry()) {
            res?.body.destroy();
            this.deps.metrics.retry(profile.name, route.name);
            const next = this.target(backend ?? down.req.authority);
            if (!(next instanceof ProxyError)) {
              attempt(next);
              return;
            }
          }
          cb(err, res);
        });
      };
      attempt(first);
      return () => {
        cancelled = true;
        cancel();
      };
    };
    exchange(
      down,
      route.timeoutMs ? withTimeout(attempts, route.timeoutMs, `route ${route.name}`) : attempts,
      rec,
    );
  }

  private upstream(down: Downstream, target: Target): Upstream {
    const { peer, host, port } = target;
    if (peer && down.req.http1) {
      // HTTP/1.1 from the app rides the streams of the mux connection to the peer: measured faster in
      // Node than re-framing each request as an HTTP/2 stream, or a TLS connection per pooled
      // connection (see the README's Performance section).
      return this.meshPool(peer.key, host, peer.inboundPort, peer.identity).upstreamWith(peer.h1Lines);
    }
    if (peer) {
      const mesh: Headers = { [DST_PORT_HEADER]: String(port) };
      return http2Upstream(
        this.peers.source(peer.key),
        `${peer.identity} at ${host}:${peer.inboundPort}`,
        () => mesh,
      );
    }
    if (down.req.http1) {
      const timeoutMs = this.deps.connectTimeoutMs;
      return this.http1.get(`${host}:${port}`, () => plainPoolOptions(host, port, timeoutMs)).upstream();
    }
    return http2Upstream(this.plainH2.source(`${host}:${port}`), `${host}:${port}`, noHeaders);
  }

  /** An HTTP/1.1 Upgrade (e.g. WebSocket): the connection becomes an opaque stream to the endpoint. */
  upgrade(req: UpgradeRequest, socket: Duplex, head: Buffer, accepted: SplicedReads): void {
    const authority = req.authority;
    const target = this.target(authority);
    // An upgraded stream is not a request the balancer can time: release the pick at once.
    if (!(target instanceof ProxyError)) target.release?.({ ok: true, rttMs: 0 });
    if (target instanceof ProxyError) {
      const err = target;
      socket.end(upgradeRefusal(err));
      return;
    }
    const rawHead = [`${req.method} ${req.url} HTTP/1.${req.versionMinor}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      rawHead.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const prelude = Buffer.concat([Buffer.from(`${rawHead.join("\r\n")}\r\n\r\n`, "latin1"), head]);
    const { peer, host, port } = target;
    const dialled = peer ? new SplicedReads() : undefined;
    const connected: Promise<Duplex> = peer
      ? this.deps.tls
          .connect(host, peer.inboundPort, peer.identity, ALPN_OPAQUE, this.deps.connectTimeoutMs, dialled)
          .then((s) => {
            s.write(encodeOpaqueHeader(port));
            return s;
          })
      : connectPlain(`${host}:${port}`, this.deps.connectTimeoutMs);
    socket.on("error", () => socket.destroy());
    connected.then(
      (upstream) => {
        upstream.write(prelude);
        splice(socket, upstream, { accepted, dialled });
      },
      (err) => {
        const e = connectError(err, `${host}:${port}`);
        log.warn({ authority, err: e.message, code: e.code }, "upgrade failed");
        socket.end(upgradeRefusal(e));
      },
    );
  }

  private meshPool(key: string, host: string, port: number, identity: string) {
    const tls = this.deps.tls;
    return this.http1.get(key, () => {
      const target = `${identity} at ${host}:${port}`;
      const { connectTimeoutMs } = this.deps;
      // Dialled through mesh TLS: the peer's identity is checked before a byte is sent.
      const mux = new MuxClient({
        // A peer that did not agree to the mux protocol is hung up on before any frame.
        dial: (reads) => tls.connectNow(host, port, identity, ALPN_MUX, reads),
        readyEvent: "secureConnect",
        target,
        connectTimeoutMs,
        idleTimeoutMs: MESH_IDLE_TIMEOUT_MS,
      });
      return {
        // Each pooled connection is a stream of the one mux connection to the peer.
        connect: (onread) => {
          const stream = mux.open();
          stream.readInto(onread);
          return stream;
        },
        readyEvent: MUX_READY,
        target,
        connectTimeoutMs,
        idleTimeoutMs: MESH_IDLE_TIMEOUT_MS,
      };
    });
  }

  /** Closes sessions gracefully (in-flight requests finish). */
  close(): void {
    this.http1.close();
    this.peers.close();
    this.plainH2.close();
  }

  private target(authority: string): Target | ProxyError {
    if (authority === "") return new ProxyError("TRELLIS_E_PROXY_NO_AUTHORITY");
    const dest = this.deps.resolver.resolve(authority);
    if (dest) {
      const picked = dest.pick();
      if (!picked) return new ProxyError("TRELLIS_E_PROXY_NO_ENDPOINTS", dest.config.authority);
      const route = this.endpointRoute(dest, picked.endpoint);
      if (route instanceof ProxyError) {
        picked.release({ ok: false });
        return route;
      }
      // Spelled out rather than spread: every Target then has one shape, which keeps the request path's
      // property loads monomorphic.
      return {
        host: route.host,
        port: route.port,
        peer: route.peer,
        labels: route.labels,
        release: picked.release,
      };
    }
    // No destination: straight to the authority, in plaintext.
    const normal = normalizeAuthority(authority);
    const addr = parseHostPort(normal);
    if (!addr) return new ProxyError("TRELLIS_E_PROXY_NO_AUTHORITY", `malformed authority ${authority}`);
    if (this.deps.isSelf(addr.host, addr.port)) return new ProxyError("TRELLIS_E_PROXY_LOOP", normal);
    let labels = this.unknownLabels.get(normal);
    if (!labels) {
      labels = this.deps.metrics.stack({
        direction: "outbound",
        authority: normal,
        tls: "no_identity",
        no_tls_reason: "not_provided_by_service_discovery",
      });
      if (this.unknownLabels.size < 1000) this.unknownLabels.set(normal, labels);
    }
    return { host: addr.host, port: addr.port, peer: undefined, labels, release: undefined };
  }

  private endpointRoute(dest: Destination, ep: EndpointConfig): EndpointRoute | ProxyError {
    let route = this.endpoints.get(ep);
    if (route) return route;
    const addr = parseHostPort(ep.address);
    if (!addr) route = new ProxyError("TRELLIS_E_PROXY_CONNECT", `bad endpoint address ${ep.address}`);
    else {
      const { host, port } = addr;
      route = {
        host,
        port,
        peer: ep.identity
          ? {
              identity: ep.identity,
              inboundPort: ep.inboundPort,
              key: peerKey(host, ep.inboundPort, ep.identity),
              h1Lines: headerLines({ [DST_PORT_HEADER]: String(port) }),
            }
          : undefined,
        labels: this.deps.metrics.stack({
          direction: "outbound",
          authority: dest.config.authority,
          ...(ep.identity
            ? { tls: "true", server_id: ep.identity }
            : { tls: "no_identity", no_tls_reason: "not_provided_by_service_discovery" }),
          ...dstLabels(dest.config.labels, ep.labels),
        }),
      };
    }
    this.endpoints.set(ep, route);
    return route;
  }
}

const noHeaders = (): Headers => ({});

/** Reads a body up to `max` bytes: all of it when it fits, else a stream that still yields every byte. */
async function keepBody(
  body: Readable,
  max: number,
): Promise<{ complete: true; buffer: Buffer } | { complete: false; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > max) {
      const rest = new PassThrough();
      for (const c of chunks) rest.write(c);
      body.pipe(rest);
      return { complete: false, stream: rest };
    }
  }
  return { complete: true, buffer: Buffer.concat(chunks) };
}

/** The request's recorder, also counting the route and letting its response classes classify. */
function withRoute(
  rec: RequestRecorder,
  routeRec: RequestRecorder | undefined,
  route: CompiledRoute | undefined,
): RequestRecorder {
  if (!route) return rec;
  return {
    firstByte(status) {
      rec.firstByte(status);
      routeRec?.firstByte(status);
    },
    end(outcome) {
      const isFailure = outcome.failed ? undefined : route.isFailure(outcome.status);
      const classified = isFailure === undefined ? outcome : { ...outcome, isFailure };
      rec.end(classified);
      routeRec?.end(classified);
    },
  };
}

/** The request's recorder, also telling the balancer the latency to first byte and the outcome. */
function balanced(rec: RequestRecorder, release: Release | undefined): RequestRecorder {
  if (!release) return rec;
  const start = performance.now();
  let rttMs: number | undefined;
  return {
    firstByte(status) {
      rttMs ??= performance.now() - start;
      rec.firstByte(status);
    },
    end(outcome) {
      rec.end(outcome);
      release({ ok: classify(outcome) === "success", rttMs });
    },
  };
}
