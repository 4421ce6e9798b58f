/**
 * Connect (the last outbound stage): the connection a request travels on to the endpoint it was sent
 * to. A meshed endpoint gets it over one mTLS connection to its proxy (the peer's SPIFFE ID verified
 * first), with the app port in a mesh header: HTTP/1.1 on the streams of a mux connection, HTTP/2 and
 * gRPC on an HTTP/2 session. An endpoint without identity, or an authority the proxy has no
 * destination for, gets it directly in plaintext (`tls="no_identity"`). Byte streams (an upgraded
 * connection, opaque TCP) are dialled here too, as one opaque mTLS stream each.
 */

import type { Duplex } from "node:stream";
import { formatHostPort, parseHostPort } from "../../lib/address.js";
import type { Downstream, Upstream } from "../http/exchange.js";
import { Http1Pools, plainPoolOptions } from "../http/h1/client.js";
import { headerLines } from "../http/h1/parser.js";
import { DST_PORT_HEADER, type Headers } from "../http/headers.js";
import { SessionPool } from "../http/sessions.js";
import { http2Upstream } from "../http/upstream.js";
import { ALPN_H2, ALPN_MUX, ALPN_OPAQUE, type MeshTls } from "../tls/index.js";
import { MUX_READY, MuxClient } from "../transport/mux/index.js";
import { connectPlain } from "../transport/net.js";
import { encodeOpaqueHeader } from "../transport/opaque.js";
import type { SplicedReads } from "../transport/reads.js";

/** Idle pooled streams, and then mux connections without streams, close after this (peers wait 120 s). */
const MESH_IDLE_TIMEOUT_MS = 60_000;

/** A meshed endpoint's proxy, as its connections are made and keyed. */
export interface Peer {
  identity: string;
  inboundPort: number;
  /** The key of the connections to the peer: `host:inboundPort identity`. */
  key: string;
  /** The mesh header naming the app port, as HTTP/1.1 header lines sent on every request. */
  h1Lines: string;
}

/** Where a request is sent: the endpoint's address and, when it is meshed, its proxy. */
export interface Endpoint {
  host: string;
  port: number;
  peer: Peer | undefined;
}

/** A meshed endpoint's peer, worked out once per endpoint (not per request). */
export function peerOf(host: string, port: number, identity: string, inboundPort: number): Peer {
  return {
    identity,
    inboundPort,
    key: `${host}:${inboundPort} ${identity}`,
    h1Lines: headerLines({ [DST_PORT_HEADER]: String(port) }),
  };
}

export class Connect {
  private readonly peers: SessionPool;
  private readonly plainH2: SessionPool;
  /** Keep-alive pools of HTTP/1.1 connections: mux streams to peers, plaintext to unmeshed endpoints. */
  private readonly http1 = new Http1Pools();

  constructor(
    private readonly tls: MeshTls,
    private readonly connectTimeoutMs: number,
  ) {
    this.peers = new SessionPool((key) => {
      const space = key.indexOf(" ");
      const addr = parseHostPort(key.slice(0, space));
      if (!addr) return Promise.reject(new Error(`bad peer key ${key}`));
      return tls.connect(addr.host, addr.port, key.slice(space + 1), ALPN_H2, connectTimeoutMs);
    });
    this.plainH2 = new SessionPool((key) => connectPlain(key, connectTimeoutMs));
  }

  /** The upstream for one request to `target`: by the app's protocol, and whether the endpoint is meshed. */
  upstream(down: Downstream, target: Endpoint): Upstream {
    const { peer, host, port } = target;
    if (peer && down.req.http1) {
      // HTTP/1.1 from the app stays HTTP/1.1 to the peer proxy, on the streams of the one mux
      // connection to it: the peer serves each stream as an HTTP/1.1 connection to the app.
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
      const timeoutMs = this.connectTimeoutMs;
      return this.http1
        .get(formatHostPort(host, port), () => plainPoolOptions(host, port, timeoutMs))
        .upstream();
    }
    const address = formatHostPort(host, port);
    return http2Upstream(this.plainH2.source(address), address, noHeaders);
  }

  /**
   * A byte stream to an endpoint: with identity, an opaque mTLS stream to its proxy (ALPN
   * `trellis.dev/opaque/v1`, the app port in the opaque header; `dialled` gets what is read during
   * the handshake); without, a plain TCP connection to `address`.
   */
  opaque(
    address: string,
    host: string,
    port: number,
    peer: { identity?: string; inboundPort: number } | undefined,
    dialled: SplicedReads | undefined,
  ): Promise<Duplex> {
    const identity = peer?.identity;
    if (!peer || !identity) return connectPlain(address, this.connectTimeoutMs);
    return this.tls
      .connect(host, peer.inboundPort, identity, ALPN_OPAQUE, this.connectTimeoutMs, dialled)
      .then((s) => {
        s.write(encodeOpaqueHeader(port));
        return s;
      });
  }

  /** Closes sessions gracefully (in-flight requests finish). */
  close(): void {
    this.http1.close();
    this.peers.close();
    this.plainH2.close();
  }

  private meshPool(key: string, host: string, port: number, identity: string) {
    const { tls, connectTimeoutMs } = this;
    return this.http1.get(key, () => {
      const target = `${identity} at ${host}:${port}`;
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
}

const noHeaders = (): Headers => ({});
