/**
 * One refresh of the dashboard from one window of a metrics source: every namespace's workloads and
 * edges (so `n` can switch namespaces at once), the routes of the namespace shown with the retries
 * sent on each, and the backends of the TrafficSplits it is given. The rows come from the same pure
 * functions `viz stat`, `edges` and `routes` use.
 */
import { edgeRows, gatherEdges } from "../edges.js";
import { gatherStat, splitRows, statPlan, statRows, type TrafficSplit } from "../golden.js";
import { gatherRoutes, type RouteRow, routeRows } from "../routes.js";
import type { Series } from "../series.js";
import type { MetricsSource } from "../source.js";
import type { RetriedRoute, Snapshot } from "./model.js";

export interface SnapshotQuery {
  /** The namespace shown, whose routes to read; undefined before the data names one. */
  namespace: string | undefined;
  /** The TrafficSplits whose backends to show (from a local store); none without one. */
  splits: readonly TrafficSplit[];
}

export async function gatherSnapshot(source: MetricsSource, q: SnapshotQuery): Promise<Snapshot> {
  const workloads = statPlan({ resource: { kind: "deployment" }, namespace: undefined });
  const services = statPlan({ resource: { kind: "service" }, namespace: undefined });
  if ("error" in workloads || "error" in services) throw new Error("the dashboard's stat plans are fixed");
  const [stat, edges, routes, retries, serviceStat] = await Promise.all([
    gatherStat(source, workloads),
    gatherEdges(source, "deployment", undefined),
    q.namespace === undefined
      ? undefined
      : gatherRoutes(source, { resource: { kind: "namespace" }, namespace: q.namespace }),
    q.namespace === undefined
      ? []
      : source.increase("route_retry_total", { direction: "outbound", namespace: q.namespace }, [
          "dst",
          "rt_route",
        ]),
    q.splits.length > 0 ? gatherStat(source, services) : undefined,
  ]);
  const serviceRows = serviceStat ? statRows(serviceStat, services.by, services.ownProxies) : [];
  return {
    rows: statRows(stat, workloads.by, workloads.ownProxies),
    edges: edgeRows(edges, "deployment"),
    routes: routes ? withRetries(routeRows(routes), retries, source.windowSeconds) : [],
    routesNamespace: routes ? q.namespace : undefined,
    splits: q.splits.flatMap((s) => splitRows(s, serviceRows)),
  };
}

/**
 * Each route's retries per second: `route_retry_total` is counted by the client's proxy per
 * destination profile (`dst`, the service's fully qualified name) and route, as `rt_route` is.
 */
export function withRetries(
  routes: readonly RouteRow[],
  retries: readonly Series[],
  windowSeconds: number,
): RetriedRoute[] {
  return routes.map((r) => {
    const sent = retries.filter(
      (s) => s.labels.rt_route === r.route && (s.labels.dst ?? "").startsWith(`${r.service}.`),
    );
    const total = sent.reduce((n, s) => n + s.value, 0);
    return { ...r, retriesPerSecond: sent.length > 0 ? total / windowSeconds : undefined };
  });
}
