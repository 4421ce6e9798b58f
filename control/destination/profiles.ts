/**
 * The profile translator: a snapshot, a target and the caller's namespace → the DestinationProfile of
 * one Service port. The ServiceProfile named by the Service's FQDN in the caller's namespace wins over
 * the one in the Service's namespace. A TrafficSplit whose apex is the Service becomes dst_overrides:
 * backends with weight 0 or without ready endpoints are left out (Linkerd's proxy skips backends in
 * failfast the same way), and when none is left the list is empty: requests go to the apex itself.
 */
import type {
  DestinationProfile,
  RequestMatch,
  ResponseMatch,
  Route,
  WeightedDst,
} from "../api/gen/trellis/destination/v1/destination.js";
import { servicePort, servicePortByTarget } from "./endpoints.js";
import {
  type ClusterState,
  key,
  type RequestMatchSpec,
  type ResponseMatchSpec,
  type RouteSpec,
} from "./model.js";
import { fqdn, resolveTarget, type Target } from "./names.js";

/** Linkerd's default when a profile sets none (profile_translator.go). */
export const DEFAULT_RETRY_BUDGET = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

export function profileView(
  target: Target,
  contextNamespace: string,
  state: ClusterState,
  clusterDomain: string,
): DestinationProfile {
  const resolved = resolveTarget(target, state);
  const profile: DestinationProfile = {
    fullyQualifiedName: "",
    opaqueProtocol: false,
    routes: [],
    retryBudget: { ...DEFAULT_RETRY_BUDGET },
    dstOverrides: [],
  };
  if (!resolved) return profile;
  // An endpoint's own IP: no Service routing (the client asks Get for that endpoint), only its port's protocol.
  if (resolved.endpointIP) {
    profile.opaqueProtocol =
      resolved.service !== undefined && servicePortByTarget(resolved.service, target.port) === "opaque";
    return profile;
  }
  const name = fqdn(resolved.namespace, resolved.name, clusterDomain);
  profile.fullyQualifiedName = name;
  profile.opaqueProtocol =
    Boolean(resolved.service) && servicePort(resolved.service, target.port).protocol === "opaque";
  const sp =
    (contextNamespace && state.profiles.get(key(contextNamespace, name))) ||
    state.profiles.get(key(resolved.namespace, name));
  if (sp) {
    if (sp.opaquePorts.includes(target.port)) profile.opaqueProtocol = true;
    profile.routes = sp.routes.map(route);
    if (sp.retryBudget) profile.retryBudget = { ...sp.retryBudget };
  }
  profile.dstOverrides = overrides(resolved.namespace, resolved.name, target.port, state, clusterDomain);
  return profile;
}

function overrides(
  namespace: string,
  apex: string,
  port: number,
  state: ClusterState,
  clusterDomain: string,
): WeightedDst[] {
  // Several splits for one apex: the first by name decides, the others are ignored.
  const split = [...state.splits.values()]
    .filter((s) => s.namespace === namespace && s.service === apex)
    .sort((a, b) => (a.name < b.name ? -1 : 1))[0];
  if (!split) return [];
  return split.backends
    .filter(
      (b) => b.weight > 0 && state.services.get(key(namespace, b.service))?.endpoints.some((e) => e.ready),
    )
    .map((b) => ({ authority: `${fqdn(namespace, b.service, clusterDomain)}:${port}`, weight: b.weight }));
}

function route(r: RouteSpec): Route {
  return {
    name: r.name,
    condition: requestMatch(r.condition),
    responseClasses: r.responseClasses.map((c) => ({
      condition: responseMatch(c.condition),
      isFailure: c.isFailure,
    })),
    metricsLabels: { route: r.name },
    isRetryable: r.isRetryable,
    timeoutMs: r.timeoutMs === undefined ? 0 : Math.max(1, Math.round(r.timeoutMs)),
  };
}

function requestMatch(m: RequestMatchSpec): RequestMatch {
  if ("all" in m) return { match: { $case: "all", value: { matches: m.all.map(requestMatch) } } };
  if ("any" in m) return { match: { $case: "any", value: { matches: m.any.map(requestMatch) } } };
  if ("not" in m) return { match: { $case: "not", value: requestMatch(m.not) } };
  if ("pathRegex" in m) return { match: { $case: "pathRegex", value: m.pathRegex } };
  return { match: { $case: "method", value: m.method } };
}

function responseMatch(m: ResponseMatchSpec): ResponseMatch {
  if ("all" in m) return { match: { $case: "all", value: { matches: m.all.map(responseMatch) } } };
  if ("any" in m) return { match: { $case: "any", value: { matches: m.any.map(responseMatch) } } };
  if ("not" in m) return { match: { $case: "not", value: responseMatch(m.not) } };
  return { match: { $case: "status", value: { ...m.status } } };
}
