/**
 * Route (logical: the first stage after the listener): the authority's ServiceProfile decides how a
 * request goes. A traffic split picks the backend by weight; the first route matching the method
 * and path gives the policy: the route's own metric series, its timeout, and whether a failed
 * attempt is sent again (retry.ts) or the request goes once to the backend's balancer (balance.ts).
 * The first request for an authority waits (bounded) for discovery's first answer about it.
 */
import type { DestinationResolver } from "../discovery/destinations.js";
import type { Downstream } from "../http/exchange.js";
import type { ProxyMetrics } from "../metrics/index.js";
import { type CompiledProfile, pickWeighted, routeFor } from "../profiles/index.js";
import type { Balance } from "./balance.js";
import type { Retry } from "./retry.js";

export class Router {
  constructor(
    private readonly resolver: DestinationResolver,
    private readonly metrics: ProxyMetrics,
    private readonly retry: Retry,
    private readonly balance: Balance,
  ) {}

  /** Takes one request from the app, HTTP/1.1 or HTTP/2. */
  handle(down: Downstream): void {
    const pending = this.resolver.prepare?.(down.req.authority);
    if (pending) void pending.then(() => this.route(down));
    else this.route(down);
  }

  /** Applies the authority's profile: a traffic split picks the backend, the first matching route its policy. */
  private route(down: Downstream): void {
    const profile = this.resolver.profile?.(down.req.authority);
    const backend =
      profile && profile.dstOverrides.length > 0 ? pickWeighted(profile.dstOverrides) : undefined;
    const pending = backend ? this.resolver.prepare?.(backend) : undefined;
    if (pending) void pending.then(() => this.dispatch(down, profile, backend));
    else this.dispatch(down, profile, backend);
  }

  private dispatch(
    down: Downstream,
    profile: CompiledProfile | undefined,
    backend: string | undefined,
  ): void {
    const route = routeFor(profile, down.req.method, down.req.path);
    const routeRec = profile && route ? this.metrics.route(profile.name, route.name) : undefined;
    const authority = backend ?? down.req.authority;
    if (profile && route?.isRetryable) this.retry.send(down, authority, profile, route, routeRec);
    else this.balance.send(down, authority, route, routeRec);
  }
}
