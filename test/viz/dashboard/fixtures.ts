/** Snapshots for the dashboard's tests: the demo's workloads in `demo`, and a `shop` namespace beside it. */

import type { RetriedRoute, Snapshot } from "../../../viz/dashboard/model.js";
import type { EdgeRow } from "../../../viz/edges.js";
import type { SplitRow, StatRow } from "../../../viz/golden.js";

export const row = (
  name: string,
  rps: number,
  success: number | undefined,
  namespace = "demo",
  p99 = 20,
): StatRow => ({
  namespace,
  name,
  success,
  rps,
  latencyMsP50: 3,
  latencyMsP95: 9,
  latencyMsP99: p99,
});

export const edge = (
  src: string,
  dst: string,
  secured: true | string = true,
  namespace = "demo",
): EdgeRow => ({
  src,
  dst,
  srcNamespace: namespace,
  dstNamespace: namespace,
  clientId: secured === true ? `spiffe://cluster.local/ns/${namespace}/sa/${src}` : undefined,
  serverId: secured === true ? `spiffe://cluster.local/ns/${namespace}/sa/${dst}` : undefined,
  secured,
});

export const route = (
  service: string,
  name: string,
  rps: number,
  success: number,
  retriesPerSecond?: number,
): RetriedRoute => ({
  route: name,
  service,
  success,
  rps,
  latencyMsP50: 1,
  latencyMsP95: 2,
  latencyMsP99: 4,
  retriesPerSecond,
});

export const backend = (name: string, weight: number, rps: number, success = 1): SplitRow => ({
  namespace: "demo",
  name,
  split: "books-canary",
  apex: "books",
  weight,
  success,
  rps,
  latencyMsP50: 1,
  latencyMsP95: 2,
  latencyMsP99: 3,
});

export const DEMO_WORKLOADS = ["authors", "books", "books-v2", "traffic", "web"];

/** One refresh of the demo, its traffic scaled by `k`, with a `shop` namespace of two workloads. */
export function demoSnapshot(k = 1, canaryShare = 0.1): Snapshot {
  return {
    rows: [
      row("authors", 20 * k, 0.93),
      row("books", 9 * k, 1, "demo", 90),
      row("books-v2", 1 * k, 0.9),
      row("traffic", 0, undefined),
      row("web", 10 * k, 0.98),
      row("cart", 4 * k, 1, "shop"),
      row("checkout", 2 * k, 0.5, "shop"),
    ],
    edges: [
      edge("traffic", "web"),
      edge("web", "books"),
      edge("web", "books-v2"),
      edge("web", "authors"),
      edge("books", "authors"),
      edge("books-v2", "authors"),
      edge("cart", "checkout", "no identity: the destination is not meshed", "shop"),
    ],
    routes: [
      route("authors", "GET /authors", 5, 1, 1.2),
      route("authors", "GET /books/{id}", 5, 0.95),
      route("authors", "[DEFAULT]", 10, 0.95),
    ],
    routesNamespace: "demo",
    splits: [
      backend("books-stable", 1 - canaryShare, 10 * (1 - canaryShare) * k),
      backend("books-v2", canaryShare, 10 * canaryShare * k, 0.9),
    ],
  };
}
