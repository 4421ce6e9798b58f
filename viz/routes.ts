/**
 * `viz routes`: golden metrics per ServiceProfile route, from the clients' `route_response_total` and
 * `route_response_latency_ms` (labels `dst`, the profile's fully qualified name, and `rt_route`). The
 * proxy records only requests a route matched; a `[DEFAULT]` row per service holds the rest: the
 * clients' outbound `response_total` for the service's authority less the routed responses.
 */
import { type Resource, workloadLabel } from "./resources.js";
import type { Matchers, Series } from "./series.js";
import type { MetricsSource } from "./source.js";

export const DEFAULT_ROUTE = "[DEFAULT]";

export interface RoutesQuery {
  /** The clients (a workload) or the service (svc/NAME) whose routes to show. */
  resource: Resource;
  namespace: string | undefined;
  /** Only routes of this service. */
  to?: Resource;
}

export interface RoutesData {
  windowSeconds: number;
  routed: Series[];
  p50: Series[];
  p95: Series[];
  p99: Series[];
  all: Series[];
  /** Latency quantiles of all the service's responses (by authority), for a service no route matched. */
  allP50: Series[];
  allP95: Series[];
  allP99: Series[];
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function routesMatch(q: RoutesQuery): { clients: Matchers; service: string | undefined } {
  const clients: Matchers = { direction: "outbound" };
  if (q.namespace !== undefined) clients.namespace = q.namespace;
  const label = workloadLabel(q.resource.kind);
  if (label && q.resource.name) clients[label] = q.resource.name;
  const svc =
    q.resource.kind === "service" ? q.resource.name : q.to?.kind === "service" ? q.to.name : undefined;
  return { clients, service: svc };
}

export async function gatherRoutes(source: MetricsSource, q: RoutesQuery): Promise<RoutesData> {
  const { clients, service } = routesMatch(q);
  // A service's clients may live in any namespace; the service's own is in its name.
  if (q.resource.kind === "service") delete clients.namespace;
  const svcNs = q.namespace === undefined ? "[^.]+" : reEscape(q.namespace);
  const dst = service ? `${reEscape(service)}\\.${svcNs}\\..*` : ".+";
  const routed: Matchers = { ...clients, dst: { re: dst } };
  const by = ["dst", "rt_route"];
  const allMatch: Matchers = { ...clients, authority: { re: dst } };
  const [r, p50, p95, p99, all, allP50, allP95, allP99] = await Promise.all([
    source.increase("route_response_total", routed, [...by, "classification"]),
    source.quantile(0.5, "route_response_latency_ms", routed, by),
    source.quantile(0.95, "route_response_latency_ms", routed, by),
    source.quantile(0.99, "route_response_latency_ms", routed, by),
    source.increase("response_total", allMatch, ["authority", "classification"]),
    source.quantile(0.5, "response_latency_ms", allMatch, ["authority"]),
    source.quantile(0.95, "response_latency_ms", allMatch, ["authority"]),
    source.quantile(0.99, "response_latency_ms", allMatch, ["authority"]),
  ]);
  return { windowSeconds: source.windowSeconds, routed: r, p50, p95, p99, all, allP50, allP95, allP99 };
}

export interface RouteRow {
  route: string;
  /** The service's short name (the first label of its FQN). */
  service: string;
  success: number | undefined;
  rps: number;
  latencyMsP50: number | undefined;
  latencyMsP95: number | undefined;
  latencyMsP99: number | undefined;
}

const fqnOf = (authority: string) => authority.replace(/:\d+$/, "");

export function routeRows(data: RoutesData): RouteRow[] {
  const rows = new Map<string, RouteRow & { fqn: string; responses: number; successes: number }>();
  const row = (dst: string, route: string) => {
    const k = JSON.stringify([dst, route]);
    let r = rows.get(k);
    if (!r) {
      r = {
        fqn: dst,
        route,
        service: dst.split(".")[0] ?? dst,
        success: undefined,
        rps: 0,
        latencyMsP50: undefined,
        latencyMsP95: undefined,
        latencyMsP99: undefined,
        responses: 0,
        successes: 0,
      };
      rows.set(k, r);
    }
    return r;
  };
  for (const s of data.routed) {
    const r = row(s.labels.dst ?? "", s.labels.rt_route ?? "");
    r.responses += s.value;
    if (s.labels.classification === "success") r.successes += s.value;
  }
  for (const [series, field] of [
    [data.p50, "latencyMsP50"],
    [data.p95, "latencyMsP95"],
    [data.p99, "latencyMsP99"],
  ] as const)
    for (const s of series) row(s.labels.dst ?? "", s.labels.rt_route ?? "")[field] = s.value;
  // What the routes did not count, per service.
  const totals = new Map<string, { responses: number; successes: number }>();
  for (const s of data.all) {
    const dst = fqnOf(s.labels.authority ?? "");
    const t = totals.get(dst) ?? { responses: 0, successes: 0 };
    t.responses += s.value;
    if (s.labels.classification === "success") t.successes += s.value;
    totals.set(dst, t);
  }
  for (const [dst, t] of totals) {
    const routed = [...rows.values()].filter((r) => r.route !== DEFAULT_ROUTE && r.fqn === dst);
    const d = row(dst, DEFAULT_ROUTE);
    d.responses = Math.max(t.responses - routed.reduce((n, r) => n + r.responses, 0), 0);
    d.successes = Math.max(t.successes - routed.reduce((n, r) => n + r.successes, 0), 0);
    // Histograms cannot be subtracted through histogram_quantile: the default row has latencies only
    // when it is all the service's traffic.
    if (routed.length === 0) {
      const at = (series: Series[]) => series.find((s) => fqnOf(s.labels.authority ?? "") === dst)?.value;
      d.latencyMsP50 = at(data.allP50);
      d.latencyMsP95 = at(data.allP95);
      d.latencyMsP99 = at(data.allP99);
    }
  }
  for (const dst of new Set([...rows.values()].map((r) => r.fqn))) row(dst, DEFAULT_ROUTE);
  return [...rows.values()]
    .map(({ fqn: _, responses, successes, ...r }) => ({
      ...r,
      success: responses > 0 ? Math.min(successes / responses, 1) : undefined,
      rps: responses / data.windowSeconds,
      ...(responses > 0 ? {} : { latencyMsP50: undefined, latencyMsP95: undefined, latencyMsP99: undefined }),
    }))
    .sort(
      (a, b) =>
        a.service.localeCompare(b.service) ||
        Number(a.route === DEFAULT_ROUTE) - Number(b.route === DEFAULT_ROUTE) ||
        a.route.localeCompare(b.route),
    );
}
