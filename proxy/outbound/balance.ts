/**
 * Balance (concrete: after the route, before the endpoint): the authority the route chose is
 * resolved to its destination, whose balancer picks an endpoint (endpoint.ts says what that endpoint
 * is, connect.ts how to reach it). The balancer then hears how the request went: the latency to the
 * response's first byte, and whether it succeeded. A request that is not retried is sent from here.
 */
import type { Release } from "../balance/index.js";
import type { EndpointConfig } from "../config.js";
import type { DestinationResolver } from "../discovery/destinations.js";
import { ProxyError } from "../errors.js";
import {
  type Downstream,
  exchange,
  type ProxyRequest,
  refuse,
  type Upstream,
  type UpstreamCallback,
  type UpstreamResponse,
  withTimeout,
} from "../http/exchange.js";
import { classify, type ProxyMetrics, type RequestRecorder } from "../metrics/index.js";
import { type CompiledRoute, withRoute } from "../profiles/index.js";
import type { Connect } from "./connect.js";
import type { Endpoints, Target } from "./endpoint.js";

/** How many more endpoints a request that reached no app is sent to (see `Balance.elsewhere`). */
const MAX_REPICKS = 2;

/** How {@link Balance.attempts} sends a request, and when it sends it again elsewhere. */
export interface AttemptPlan {
  /** Sends one attempt to `target`. */
  send(target: Target, req: ProxyRequest, cb: UpstreamCallback): () => void;
  /** Whether the attempt at `target` that ended so is made again, at a newly picked endpoint. */
  again(target: Target, err: ProxyError | undefined, res: UpstreamResponse | undefined): boolean;
  /** Hears that the request leaves `from` (whose answer, if any, is dropped) for `to`. */
  moved(from: Target, to: Target, res: UpstreamResponse | undefined): void;
  /** Endpoints the picks leave out. */
  avoid?: ReadonlySet<EndpointConfig>;
}

export class Balance {
  constructor(
    private readonly resolver: DestinationResolver,
    private readonly metrics: ProxyMetrics,
    private readonly endpoints: Endpoints,
    private readonly connect: Connect,
  ) {}

  /** Sends a request that is not retried: one pick, one attempt, bounded by the route's timeout. */
  send(
    down: Downstream,
    authority: string,
    route: CompiledRoute | undefined,
    routeRec: RequestRecorder | undefined,
  ): void {
    const target = this.target(authority);
    if (target instanceof ProxyError) {
      this.refuse(down, target, route, routeRec);
      return;
    }
    let current = target;
    const rec = withRoute(
      balanced(this.metrics.request(target.labels), () => current.release),
      routeRec,
      route,
    );
    const upstream = this.elsewhere(down, authority, target, (next) => {
      current = next;
    });
    exchange(
      down,
      route?.timeoutMs ? withTimeout(upstream, route.timeoutMs, `route ${route.name}`) : upstream,
      rec,
    );
  }

  /**
   * Sends to `first`, and again to a newly picked endpoint (at most {@link MAX_REPICKS} times) when the
   * request never reached an app: no connection was made, the peer refused the stream, or the peer's
   * app refused the connection (a pod shutting down). The endpoints it failed on are not picked again
   * for it: a failure that fast looks cheap to a latency-driven balancer. This is not a retry: no app
   * saw the request, so it needs neither a retryable route nor budget; but only a request without a
   * body is sent again, since the first attempt may have read some of it. `moved` hears each new
   * endpoint.
   */
  private elsewhere(
    down: Downstream,
    authority: string,
    first: Target,
    moved: (t: Target) => void,
  ): Upstream {
    const once = this.connect.upstream(down, first);
    // An endpoint no balancer picked (no destination) has nowhere else to go.
    if (!first.release || down.req.body) return once;
    let left = MAX_REPICKS;
    const tried = new Set<EndpointConfig>();
    return this.attempts(authority, first, {
      send: (target, req, cb) => (target === first ? once : this.connect.upstream(down, target))(req, cb),
      again: (target, err) => {
        if (!err?.unprocessed || left === 0) return false;
        if (target.picked) tried.add(target.picked);
        return true;
      },
      moved: (from, to) => {
        left--;
        from.release?.({ ok: false });
        moved(to);
      },
      avoid: tried,
    });
  }

  /**
   * An upstream that sends the request to `first`, and then to a newly picked endpoint each time
   * `plan.again` asks for it after an attempt. When no endpoint is left to pick, the last attempt's
   * outcome is the answer. Cancelling stops the attempt under way and any after it.
   */
  attempts(authority: string, first: Target, plan: AttemptPlan): Upstream {
    return (req, cb) => {
      let cancelled = false;
      let cancel = () => {};
      const attempt = (target: Target) => {
        cancel = plan.send(target, req, (err, res) => {
          if (!cancelled && plan.again(target, err, res)) {
            const next = this.target(authority, plan.avoid);
            if (!(next instanceof ProxyError)) {
              plan.moved(target, next, res);
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
  }

  /**
   * Where the next attempt at `authority` goes: an endpoint its destination's balancer picked, other
   * than those in `avoid`.
   */
  target(authority: string, avoid?: ReadonlySet<EndpointConfig>): Target | ProxyError {
    if (authority === "") return new ProxyError("TRELLIS_E_PROXY_NO_AUTHORITY");
    const dest = this.resolver.resolve(authority);
    if (!dest) return this.endpoints.direct(authority);
    const picked = dest.pick(avoid);
    if (!picked) return new ProxyError("TRELLIS_E_PROXY_NO_ENDPOINTS", dest.config.authority);
    return this.endpoints.picked(dest, picked);
  }

  /** Answers a request no endpoint was found for, counted under the authority the client asked for. */
  refuse(
    down: Downstream,
    err: ProxyError,
    route: CompiledRoute | undefined,
    routeRec: RequestRecorder | undefined,
  ): void {
    const { metrics } = this;
    const stack = metrics.stack({ direction: "outbound", authority: down.req.authority });
    refuse(down, withRoute(metrics.request(stack), routeRec, route), err);
  }
}

/**
 * The request's recorder, also telling the balancer of the endpoint that answered (`release()` at the
 * end) the latency to first byte and the outcome.
 */
function balanced(rec: RequestRecorder, releaseOf: () => Release | undefined): RequestRecorder {
  if (!releaseOf()) return rec;
  const start = performance.now();
  let rttMs: number | undefined;
  return {
    firstByte(status) {
      rttMs ??= performance.now() - start;
      rec.firstByte(status);
    },
    end(outcome) {
      rec.end(outcome);
      releaseOf()?.({ ok: classify(outcome) === "success", rttMs });
    },
  };
}
