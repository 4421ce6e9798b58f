/**
 * ServiceProfiles as the proxy applies them, to outbound requests: routes compiled once per profile
 * update (regexes anchored at both ends, as ServiceProfiles mean them), the first matching route
 * wins, response classes decide failure (also for the route's metrics), and TrafficSplit weights
 * pick a backend per request. retries.ts holds the retry budget a service's retryable routes share.
 */
import type {
  DestinationProfile,
  RequestMatch,
  ResponseMatch,
  Route,
  WeightedDst,
} from "../../control/api/gen/trellis/destination/v1/destination.js";

import type { RequestRecorder } from "../metrics/index.js";
import { DEFAULT_RETRY_BUDGET, RetryBudget, type RetryBudgetOptions } from "./retries.js";

export interface CompiledRoute {
  name: string;
  matches(method: string, path: string): boolean;
  /** true/false when a response class matches the status, undefined when none does. */
  isFailure(status: number): boolean | undefined;
  timeoutMs: number;
  isRetryable: boolean;
}

export interface CompiledProfile {
  name: string;
  routes: CompiledRoute[];
  dstOverrides: WeightedDst[];
  /** The destination service says the traffic is opaque TCP (opaque_protocol): never detect HTTP on it. */
  opaque: boolean;
  /** Shared by every retryable route of the service. */
  budget: RetryBudget;
  budgetOptions: RetryBudgetOptions;
}

type Matcher = (method: string, path: string) => boolean;

function requestMatcher(m: RequestMatch | undefined): Matcher {
  const match = m?.match;
  if (!match) return () => false;
  switch (match.$case) {
    case "all": {
      const all = match.value.matches.map(requestMatcher);
      return (method, path) => all.every((f) => f(method, path));
    }
    case "any": {
      const any = match.value.matches.map(requestMatcher);
      return (method, path) => any.some((f) => f(method, path));
    }
    case "not": {
      const inner = requestMatcher(match.value);
      return (method, path) => !inner(method, path);
    }
    case "pathRegex": {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${match.value})$`);
      } catch {
        // The destination service validates regexes; one that still fails to compile matches nothing.
        return () => false;
      }
      return (_method, path) => re.test(path.split("?")[0] ?? path);
    }
    case "method": {
      const method = match.value.toUpperCase();
      return (m) => m.toUpperCase() === method;
    }
  }
}

function responseMatcher(m: ResponseMatch | undefined): (status: number) => boolean {
  const match = m?.match;
  if (!match) return () => false;
  switch (match.$case) {
    case "all": {
      const all = match.value.matches.map(responseMatcher);
      return (s) => all.every((f) => f(s));
    }
    case "any": {
      const any = match.value.matches.map(responseMatcher);
      return (s) => any.some((f) => f(s));
    }
    case "not": {
      const inner = responseMatcher(match.value);
      return (s) => !inner(s);
    }
    case "status": {
      const { min, max } = match.value;
      return (s) => s >= (min || 100) && s <= (max || 599);
    }
  }
}

export function compileRoute(route: Route): CompiledRoute {
  const classes = route.responseClasses.map((c) => ({
    matches: responseMatcher(c.condition),
    isFailure: c.isFailure,
  }));
  return {
    name: route.name,
    matches: requestMatcher(route.condition),
    isFailure: (status) => classes.find((c) => c.matches(status))?.isFailure,
    timeoutMs: route.timeoutMs,
    isRetryable: route.isRetryable,
  };
}

export function compileProfile(profile: DestinationProfile, previous?: CompiledProfile): CompiledProfile {
  const b = profile.retryBudget;
  const same =
    previous &&
    b &&
    previous.budgetOptions.retryRatio === b.retryRatio &&
    previous.budgetOptions.minRetriesPerSecond === b.minRetriesPerSecond &&
    previous.budgetOptions.ttlMs === b.ttlMs;
  const budgetOptions = b && b.ttlMs > 0 ? { ...b } : DEFAULT_RETRY_BUDGET;
  return {
    name: profile.fullyQualifiedName,
    routes: profile.routes.map(compileRoute),
    dstOverrides: profile.dstOverrides.filter((d) => d.weight > 0),
    opaque: profile.opaqueProtocol,
    // An update that keeps the budget keeps what it has counted.
    budget: same && previous ? previous.budget : new RetryBudget(budgetOptions),
    budgetOptions,
  };
}

/** The first route matching the request. */
export function routeFor(
  profile: CompiledProfile | undefined,
  method: string,
  path: string,
): CompiledRoute | undefined {
  return profile?.routes.find((r) => r.matches(method, path));
}

/** A backend chosen in proportion to its weight; weight 0 is never chosen. */
export function pickWeighted(
  dsts: readonly WeightedDst[],
  random: () => number = Math.random,
): string | undefined {
  const total = dsts.reduce((sum, d) => sum + Math.max(d.weight, 0), 0);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const d of dsts) {
    r -= Math.max(d.weight, 0);
    if (r < 0) return d.authority;
  }
  return dsts[dsts.length - 1]?.authority;
}

/** The request's recorder, also counting the request on its route and letting the route's response classes classify it. */
export function withRoute(
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
