/**
 * Endpoint (after balancing, before connecting): what every request to one endpoint shares, worked
 * out once per endpoint: its address, its proxy's identity and inbound port when it is meshed, and
 * the metric labels its requests are counted under. An authority with no destination is an endpoint
 * of its own, reached directly in plaintext (`tls="no_identity"`), unless it names this proxy.
 */
import { parseHostPort } from "../../lib/address.js";
import type { Release } from "../balance/index.js";
import { type EndpointConfig, normalizeAuthority } from "../config.js";
import type { Destination } from "../discovery/destinations.js";
import { ProxyError } from "../errors.js";
import { dstLabels, type ProxyMetrics, type StackLabels } from "../metrics/index.js";
import { type Endpoint, peerOf } from "./connect.js";

/** An endpoint as requests use it, worked out once per endpoint. */
export interface EndpointRoute extends Endpoint {
  labels: StackLabels;
}

/** Where one request goes. */
export interface Target extends EndpointRoute {
  /** Reports the request's outcome to the balancer that picked the endpoint. */
  release: Release | undefined;
  /** The endpoint the balancer picked; undefined for an authority with no destination. */
  picked: EndpointConfig | undefined;
}

export class Endpoints {
  private readonly routes = new WeakMap<EndpointConfig, EndpointRoute | ProxyError>();
  private readonly unknownLabels = new Map<string, StackLabels>();

  constructor(
    private readonly metrics: ProxyMetrics,
    /** Whether host:port is one of this proxy's own listeners (a request there would loop). */
    private readonly isSelf: (host: string, port: number) => boolean,
  ) {}

  /** The target for the endpoint a destination's balancer picked; a bad endpoint address fails the pick. */
  picked(dest: Destination, picked: { endpoint: EndpointConfig; release: Release }): Target | ProxyError {
    const route = this.route(dest, picked.endpoint);
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
      picked: picked.endpoint,
    };
  }

  /** The target for an authority with no destination: straight to it, in plaintext. */
  direct(authority: string): Target | ProxyError {
    const normal = normalizeAuthority(authority);
    const addr = parseHostPort(normal);
    if (!addr) return new ProxyError("TRELLIS_E_PROXY_NO_AUTHORITY", `malformed authority ${authority}`);
    if (this.isSelf(addr.host, addr.port)) return new ProxyError("TRELLIS_E_PROXY_LOOP", normal);
    let labels = this.unknownLabels.get(normal);
    if (!labels) {
      labels = this.metrics.stack({
        direction: "outbound",
        authority: normal,
        tls: "no_identity",
        no_tls_reason: "not_provided_by_service_discovery",
      });
      if (this.unknownLabels.size < 1000) this.unknownLabels.set(normal, labels);
    }
    return {
      host: addr.host,
      port: addr.port,
      peer: undefined,
      labels,
      release: undefined,
      picked: undefined,
    };
  }

  private route(dest: Destination, ep: EndpointConfig): EndpointRoute | ProxyError {
    let route = this.routes.get(ep);
    if (route) return route;
    const addr = parseHostPort(ep.address);
    if (!addr) route = new ProxyError("TRELLIS_E_PROXY_CONNECT", `bad endpoint address ${ep.address}`);
    else {
      const { host, port } = addr;
      route = {
        host,
        port,
        peer: ep.identity ? peerOf(host, port, ep.identity, ep.inboundPort) : undefined,
        labels: this.metrics.stack({
          direction: "outbound",
          authority: dest.config.authority,
          ...(ep.identity
            ? { tls: "true", server_id: ep.identity }
            : { tls: "no_identity", no_tls_reason: "not_provided_by_service_discovery" }),
          ...dstLabels(dest.config.labels, ep.labels),
        }),
      };
    }
    this.routes.set(ep, route);
    return route;
  }
}
