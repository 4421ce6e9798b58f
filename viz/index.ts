/**
 * viz: golden metrics as pure functions. A MetricsSource (./source.ts) answers in PromQL's terms,
 * from Prometheus (./promql.ts) or from two scrapes of the proxies (./direct.ts, with ./series.ts
 * doing Prometheus's arithmetic); ./golden.ts, ./edges.ts and ./routes.ts turn the answers into the
 * rows of `viz stat`, `viz edges` and `viz routes`, ./render.ts into tables or JSON, and
 * ./dashboard/ holds the live view's model and its ink rendering.
 */
export { DirectSource, type ScrapeTarget } from "./direct.js";
export { type EdgeRow, edgeRows, gatherEdges } from "./edges.js";
export { gatherStat, type StatRow, splitRows, statPlan, statRows, type TrafficSplit } from "./golden.js";
export { PrometheusSource, parseDuration } from "./promql.js";
export { renderEdges, renderRoutes, renderSplit, renderStat } from "./render.js";
export { parseResource, type Resource } from "./resources.js";
export { gatherRoutes, type RouteRow, routeRows } from "./routes.js";
export { type MetricsSource, SourceError } from "./source.js";
