/**
 * Per-kind validation of a resource's spec, for resources.ts: a Checker collects every problem of one
 * resource, each prefixed with the path of its field, and one function per kind turns a spec into the
 * destination model (or undefined when a required part is missing). Unknown fields are refused, as
 * Linkerd's profile validation does.
 */
import { isIP } from "node:net";
import { parseDuration } from "../../lib/duration.js";
import { parseQuantityMilli } from "../../lib/quantity.js";
import {
  DEFAULT_ENDPOINT_WEIGHT,
  DEFAULT_PROXY_INBOUND_PORT,
  defaultProtocol,
  type Endpoint,
  type RequestMatchSpec,
  type ResponseMatchSpec,
  type RouteSpec,
  type Service,
  type ServicePort,
  type ServiceProfile,
  SPLIT_WEIGHT_UNIT,
  type TrafficSplit,
} from "./model.js";

/** A DNS-1123 label: namespaces, Service and ServiceAccount names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const METHOD = /^[A-Z][A-Z0-9_-]*$/;
/**
 * How deep all/any/not may nest in a condition. The checks recurse, and an object from the Kubernetes
 * API may nest thousands of levels (a YAML file that deep is already refused by the YAML parser).
 */
export const MAX_CONDITION_DEPTH = 32;

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Collects the problems of one resource, each prefixed with the field's path. */
export class Checker {
  readonly problems: string[] = [];

  fail(path: string, what: string): undefined {
    this.problems.push(`${path}: ${what}`);
    return undefined;
  }

  object(v: unknown, path: string, fields: readonly string[]): Obj | undefined {
    if (!isObj(v)) return this.fail(path, "expected a mapping");
    for (const k of Object.keys(v)) if (!fields.includes(k)) this.fail(`${path}.${k}`, "unknown field");
    return v;
  }

  list(v: unknown, path: string): unknown[] | undefined {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.fail(path, "expected a list");
    return v;
  }

  string(v: unknown, path: string, required = true): string | undefined {
    if (v === undefined || v === null) return required ? this.fail(path, "required") : undefined;
    if (typeof v !== "string" || v === "") return this.fail(path, "expected a non-empty string");
    return v;
  }

  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") this.fail(path, "expected true or false");
    return v === true;
  }

  int(v: unknown, path: string, min: number, max: number, dflt?: number): number | undefined {
    if ((v === undefined || v === null) && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      return this.fail(path, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return v;
  }

  duration(v: unknown, path: string): number | undefined {
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms === undefined)
      return this.fail(path, `expected a duration such as 250ms, 10s or 1m, got ${JSON.stringify(v)}`);
    return ms;
  }
}

/** A local Service's spec: ports and endpoints. */
export function validateService(c: Checker, spec: Obj, namespace: string, name: string): Service | undefined {
  const clusterIP = c.string(spec.clusterIP, "spec.clusterIP", false);
  if (clusterIP !== undefined && isIP(clusterIP) === 0) c.fail("spec.clusterIP", "expected an IP address");
  const ports: ServicePort[] = [];
  (c.list(spec.ports, "spec.ports") ?? []).forEach((p, i) => {
    const path = `spec.ports[${i}]`;
    const o = c.object(p, path, ["name", "port", "targetPort", "protocol"]);
    if (!o) return;
    const port = c.int(o.port, `${path}.port`, 1, 65535);
    const targetPort = c.int(o.targetPort, `${path}.targetPort`, 1, 65535, port);
    const protocol = o.protocol ?? (port === undefined ? "http" : defaultProtocol(port));
    if (protocol !== "http" && protocol !== "opaque")
      c.fail(`${path}.protocol`, `expected http or opaque, got ${JSON.stringify(protocol)}`);
    if (port === undefined || targetPort === undefined) return;
    if (ports.some((q) => q.port === port)) c.fail(`${path}.port`, `port ${port} is listed twice`);
    ports.push({
      name: typeof o.name === "string" ? o.name : String(port),
      port,
      targetPort,
      protocol: protocol === "opaque" ? "opaque" : "http",
    });
  });
  const endpoints: Endpoint[] = [];
  (c.list(spec.endpoints, "spec.endpoints") ?? []).forEach((e, i) => {
    const path = `spec.endpoints[${i}]`;
    const o = c.object(e, path, [
      "address",
      "pod",
      "deployment",
      "owner",
      "serviceAccount",
      "ready",
      "terminating",
      "meshed",
      "weight",
      "inboundPort",
      "labels",
    ]);
    if (!o) return;
    const ip = c.string(o.address, `${path}.address`);
    if (ip !== undefined && isIP(ip) === 0) c.fail(`${path}.address`, `expected an IP address, got ${ip}`);
    if (ip !== undefined && endpoints.some((x) => x.ip === ip))
      c.fail(`${path}.address`, `${ip} is listed twice`);
    const serviceAccount = c.string(o.serviceAccount, `${path}.serviceAccount`, false) ?? "default";
    if (!DNS_LABEL.test(serviceAccount)) c.fail(`${path}.serviceAccount`, "expected a DNS-1123 label");
    let owner: Endpoint["owner"];
    if (o.owner !== undefined) {
      const ow = c.object(o.owner, `${path}.owner`, ["kind", "name"]);
      const kind = c.string(ow?.kind, `${path}.owner.kind`);
      const oname = c.string(ow?.name, `${path}.owner.name`);
      if (kind && oname) owner = { kind: kind.toLowerCase(), name: oname };
    } else {
      const d = c.string(o.deployment, `${path}.deployment`, false);
      if (d) owner = { kind: "deployment", name: d };
    }
    const labels: Record<string, string> = {};
    if (o.labels !== undefined) {
      const l = c.object(o.labels, `${path}.labels`, Object.keys(isObj(o.labels) ? o.labels : {}));
      for (const [lk, lv] of Object.entries(l ?? {})) {
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(lk)) c.fail(`${path}.labels.${lk}`, "not a metric label name");
        if (typeof lv === "object" && lv !== null) c.fail(`${path}.labels.${lk}`, "expected a string");
        else labels[lk] = String(lv);
      }
    }
    const weight = c.int(o.weight, `${path}.weight`, 0, 0xffffffff, DEFAULT_ENDPOINT_WEIGHT);
    const inboundPort = c.int(o.inboundPort, `${path}.inboundPort`, 1, 65535, DEFAULT_PROXY_INBOUND_PORT);
    if (ip === undefined || weight === undefined || inboundPort === undefined) return;
    endpoints.push({
      ip,
      // A terminating pod leaves the set before it stops serving, as an EndpointSlice's ready=false.
      ready: c.bool(o.ready, `${path}.ready`, true) && !c.bool(o.terminating, `${path}.terminating`, false),
      meshed: c.bool(o.meshed, `${path}.meshed`, true),
      serviceAccount,
      pod: c.string(o.pod, `${path}.pod`, false) ?? ip,
      ...(owner && { owner }),
      weight,
      inboundPort,
      labels,
    });
  });
  return { namespace, name, ...(clusterIP && { clusterIP }), ports, endpoints };
}

/** A ServiceProfile's spec: routes with their conditions and response classes, retry budget, opaque ports. */
export function validateProfile(
  c: Checker,
  spec: Obj,
  namespace: string,
  name: string,
): ServiceProfile | undefined {
  const routes: RouteSpec[] = [];
  (c.list(spec.routes, "spec.routes") ?? []).forEach((r, i) => {
    const path = `spec.routes[${i}]`;
    const o = c.object(r, path, ["name", "condition", "responseClasses", "isRetryable", "timeout"]);
    if (!o) return;
    const rname = c.string(o.name, `${path}.name`);
    const condition =
      o.condition === undefined
        ? c.fail(`${path}.condition`, "required")
        : requestMatch(c, o.condition, `${path}.condition`);
    const responseClasses: RouteSpec["responseClasses"] = [];
    (c.list(o.responseClasses, `${path}.responseClasses`) ?? []).forEach((rc, j) => {
      const rpath = `${path}.responseClasses[${j}]`;
      const ro = c.object(rc, rpath, ["condition", "isFailure"]);
      if (!ro) return;
      const cond =
        ro.condition === undefined
          ? c.fail(`${rpath}.condition`, "required")
          : responseMatch(c, ro.condition, `${rpath}.condition`);
      if (cond)
        responseClasses.push({
          condition: cond,
          isFailure: c.bool(ro.isFailure, `${rpath}.isFailure`, false),
        });
    });
    const timeoutMs = o.timeout === undefined ? undefined : c.duration(o.timeout, `${path}.timeout`);
    if (!rname || !condition) return;
    routes.push({
      name: rname,
      condition,
      responseClasses,
      isRetryable: c.bool(o.isRetryable, `${path}.isRetryable`, false),
      ...(timeoutMs !== undefined && { timeoutMs }),
    });
  });
  let retryBudget: ServiceProfile["retryBudget"];
  if (spec.retryBudget !== undefined) {
    const b = c.object(spec.retryBudget, "spec.retryBudget", ["retryRatio", "minRetriesPerSecond", "ttl"]);
    if (b) {
      const ratio = b.retryRatio;
      if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 0)
        c.fail("spec.retryBudget.retryRatio", `expected a number >= 0, got ${JSON.stringify(ratio)}`);
      const min = c.int(b.minRetriesPerSecond, "spec.retryBudget.minRetriesPerSecond", 0, 0xffffffff);
      const ttlMs = c.duration(b.ttl, "spec.retryBudget.ttl");
      if (typeof ratio === "number" && min !== undefined && ttlMs !== undefined)
        retryBudget = { retryRatio: ratio, minRetriesPerSecond: min, ttlMs };
    }
  }
  const opaquePorts: number[] = [];
  (c.list(spec.opaquePorts, "spec.opaquePorts") ?? []).forEach((v, i) => {
    const port = c.int(v, `spec.opaquePorts[${i}]`, 1, 65535);
    if (port !== undefined) opaquePorts.push(port);
  });
  return { namespace, name, routes, ...(retryBudget && { retryBudget }), opaquePorts };
}

function requestMatch(c: Checker, v: unknown, path: string, depth = 0): RequestMatchSpec | undefined {
  if (depth > MAX_CONDITION_DEPTH)
    return c.fail(path, `conditions nest more than ${MAX_CONDITION_DEPTH} levels deep`);
  const o = c.object(v, path, ["method", "pathRegex", "all", "any", "not"]);
  if (!o) return undefined;
  // Several fields at once mean all of them, as in Linkerd.
  const parts: RequestMatchSpec[] = [];
  if (o.method !== undefined) {
    const m = c.string(o.method, `${path}.method`);
    if (m && !METHOD.test(m.toUpperCase())) c.fail(`${path}.method`, `not an HTTP method: ${m}`);
    else if (m) parts.push({ method: m.toUpperCase() });
  }
  if (o.pathRegex !== undefined) {
    const re = c.string(o.pathRegex, `${path}.pathRegex`);
    if (re !== undefined) {
      try {
        new RegExp(`^(?:${re})$`);
        parts.push({ pathRegex: re });
      } catch (err) {
        c.fail(
          `${path}.pathRegex`,
          `invalid regular expression ${JSON.stringify(re)}: ${(err as Error).message}`,
        );
      }
    }
  }
  for (const op of ["all", "any"] as const) {
    if (o[op] === undefined) continue;
    const items = c.list(o[op], `${path}.${op}`) ?? [];
    if (items.length === 0) c.fail(`${path}.${op}`, "expected at least one condition");
    const subs = items.map((s, i) => requestMatch(c, s, `${path}.${op}[${i}]`, depth + 1));
    if (subs.every((s) => s))
      parts.push(op === "all" ? { all: subs as RequestMatchSpec[] } : { any: subs as RequestMatchSpec[] });
  }
  if (o.not !== undefined) {
    const sub = requestMatch(c, o.not, `${path}.not`, depth + 1);
    if (sub) parts.push({ not: sub });
  }
  if (Object.keys(o).length === 0)
    return c.fail(path, "expected at least one of method, pathRegex, all, any, not");
  if (parts.length === 1) return parts[0];
  return parts.length > 1 ? { all: parts } : undefined;
}

function responseMatch(c: Checker, v: unknown, path: string, depth = 0): ResponseMatchSpec | undefined {
  if (depth > MAX_CONDITION_DEPTH)
    return c.fail(path, `conditions nest more than ${MAX_CONDITION_DEPTH} levels deep`);
  const o = c.object(v, path, ["status", "all", "any", "not"]);
  if (!o) return undefined;
  const parts: ResponseMatchSpec[] = [];
  if (o.status !== undefined) {
    const s = c.object(o.status, `${path}.status`, ["min", "max"]);
    if (s) {
      if (s.min === undefined && s.max === undefined) c.fail(`${path}.status`, "expected min, max or both");
      const min = s.min === undefined ? undefined : c.int(s.min, `${path}.status.min`, 100, 599);
      const max = s.max === undefined ? undefined : c.int(s.max, `${path}.status.max`, 100, 599);
      const lo = min ?? max;
      const hi = max ?? min;
      if (lo !== undefined && hi !== undefined && hi < lo)
        c.fail(`${path}.status`, `max ${hi} is below min ${lo}`);
      else if (lo !== undefined && hi !== undefined) parts.push({ status: { min: lo, max: hi } });
    }
  }
  for (const op of ["all", "any"] as const) {
    if (o[op] === undefined) continue;
    const items = c.list(o[op], `${path}.${op}`) ?? [];
    if (items.length === 0) c.fail(`${path}.${op}`, "expected at least one condition");
    const subs = items.map((s, i) => responseMatch(c, s, `${path}.${op}[${i}]`, depth + 1));
    if (subs.every((s) => s))
      parts.push(op === "all" ? { all: subs as ResponseMatchSpec[] } : { any: subs as ResponseMatchSpec[] });
  }
  if (o.not !== undefined) {
    const sub = responseMatch(c, o.not, `${path}.not`, depth + 1);
    if (sub) parts.push({ not: sub });
  }
  if (Object.keys(o).length === 0) return c.fail(path, "expected at least one of status, all, any, not");
  if (parts.length === 1) return parts[0];
  return parts.length > 1 ? { all: parts } : undefined;
}

/** A TrafficSplit's spec; v1alpha1 weights are quantities (`900m`), v1alpha2 weights integers. */
export function validateSplit(
  c: Checker,
  spec: Obj,
  namespace: string,
  name: string,
  quantities: boolean,
): TrafficSplit | undefined {
  const service = c.string(spec.service, "spec.service");
  if (service !== undefined && !DNS_LABEL.test(service)) c.fail("spec.service", "expected a Service name");
  const backends: TrafficSplit["backends"] = [];
  const items = c.list(spec.backends, "spec.backends") ?? [];
  if (items.length === 0) c.fail("spec.backends", "expected at least one backend");
  items.forEach((b, i) => {
    const path = `spec.backends[${i}]`;
    const o = c.object(b, path, ["service", "weight"]);
    if (!o) return;
    const svc = c.string(o.service, `${path}.service`);
    if (svc !== undefined && !DNS_LABEL.test(svc)) c.fail(`${path}.service`, "expected a Service name");
    let weight: number | undefined;
    if (quantities) {
      const milli = parseQuantityMilli(o.weight);
      if (milli === undefined)
        c.fail(
          `${path}.weight`,
          `expected a quantity such as 1, 900m or 0.5 (v1alpha1), got ${JSON.stringify(o.weight)}`,
        );
      else weight = milli * (SPLIT_WEIGHT_UNIT / 1000);
    } else {
      const w = c.int(o.weight, `${path}.weight`, 0, Math.floor(0xffffffff / SPLIT_WEIGHT_UNIT));
      if (w !== undefined) weight = w * SPLIT_WEIGHT_UNIT;
    }
    if (weight !== undefined && weight > 0xffffffff) c.fail(`${path}.weight`, "too large");
    if (svc && weight !== undefined) backends.push({ service: svc, weight });
  });
  if (backends.length > 0 && backends.every((b) => b.weight === 0))
    c.fail("spec.backends", "every weight is 0: nothing would receive traffic");
  return service === undefined ? undefined : { namespace, name, service, backends };
}
