/**
 * YAML documents → validated resources. Three kinds are read:
 *
 * - `local.trellis.dev/v1` `Service`: a Service and its endpoints in one document, the local stand-in
 *   for a Kubernetes Service + EndpointSlices + Pods:
 *   ```yaml
 *   apiVersion: local.trellis.dev/v1
 *   kind: Service
 *   metadata: { name: web, namespace: shop }
 *   spec:
 *     clusterIP: 10.96.0.10              # optional; IP:port authorities resolve through it
 *     ports:                             # optional; a port not listed maps to itself (http)
 *     - { name: http, port: 80, targetPort: 8080, protocol: http }   # protocol: http | opaque
 *     endpoints:
 *     - address: 127.0.0.2               # IPv4 or IPv6
 *       pod: web-1                       # default: the address
 *       deployment: web                  # owner, for metrics (or owner: {kind, name})
 *       serviceAccount: web              # default: default
 *       ready: true                      # default true; false is not announced
 *       terminating: false               # default false; true is not announced (it is draining)
 *       meshed: true                     # default true: identity + H2 hint
 *       weight: 10000                    # default 10000
 *       inboundPort: 4143                # the proxy's inbound port, default 4143
 *       labels: { zone: a }              # extra metric labels
 *   ```
 * - `trellis.dev/v1alpha1` `ServiceProfile`, named by the Service's fully qualified name;
 *   `spec.opaquePorts: [5432]` marks ports whose traffic is TCP (opaque_protocol).
 * - `split.smi-spec.io/v1alpha1` (quantity weights, `900m`) and `v1alpha2` (integer weights)
 *   `TrafficSplit`.
 *
 * Validation is strict (unknown fields are refused, as Linkerd's profile validation does) and reports
 * every problem of a resource at once, each naming the file and the field.
 */
import { isIP } from "node:net";
import { parseAllDocuments } from "yaml";
import { parseDuration } from "../../lib/duration.js";
import type { DestinationErrorCode } from "./errors.js";
import type {
  Endpoint,
  RequestMatchSpec,
  ResponseMatchSpec,
  RouteSpec,
  Service,
  ServicePort,
  ServiceProfile,
  TrafficSplit,
} from "./model.js";

export type Resource =
  | { kind: "Service"; value: Service }
  | { kind: "ServiceProfile"; value: ServiceProfile }
  | { kind: "TrafficSplit"; value: TrafficSplit };

export type ResourceKind = Resource["kind"];

/** A refused document. `kind` and `key` are set when known, so the last good one can stay. */
export interface Problem {
  code: DestinationErrorCode;
  reason: string;
  kind?: ResourceKind;
  key?: string;
}

export interface Parsed {
  /** false when the file is not YAML at all: nothing in it can be trusted. */
  yamlOk: boolean;
  resources: Resource[];
  problems: Problem[];
}

export const DEFAULT_ENDPOINT_WEIGHT = 10_000;
export const DEFAULT_PROXY_INBOUND_PORT = 4143;
/** TrafficSplit weights are scaled so that a weight of 1 is 10000, as Linkerd's decimillis. */
export const SPLIT_WEIGHT_UNIT = 10_000;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const METHOD = /^[A-Z][A-Z0-9_-]*$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Collects the problems of one resource, each prefixed with the field's path. */
class Checker {
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

/** Parses one file's text. Never throws. */
export function parseResources(text: string, file: string, clusterDomain: string): Parsed {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const yamlErrors = list.flatMap((d) => d.errors);
  if (yamlErrors.length > 0) {
    const e = yamlErrors[0];
    return {
      yamlOk: false,
      resources: [],
      problems: [{ code: "TRELLIS_E_DESTINATION_BAD_YAML", reason: `${file}: ${e?.message ?? "bad YAML"}` }],
    };
  }
  const out: Parsed = { yamlOk: true, resources: [], problems: [] };
  list.forEach((doc, i) => {
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const where = `${file} (document ${i + 1})`;
    const r = parseResource(value, where, clusterDomain);
    if ("problem" in r) out.problems.push(r.problem);
    else out.resources.push(r.resource);
  });
  return out;
}

/** Parses one document already decoded (a YAML document, or an object from the Kubernetes API). */
export function parseResource(
  value: unknown,
  where: string,
  clusterDomain: string,
): { resource: Resource } | { problem: Problem } {
  const bad = (reason: string): { problem: Problem } => ({
    problem: { code: "TRELLIS_E_DESTINATION_BAD_RESOURCE", reason: `${where}: ${reason}` },
  });
  if (!isObj(value)) return bad("expected a mapping with apiVersion, kind, metadata and spec");
  const { apiVersion, kind, metadata } = value;
  const known: Record<string, ResourceKind> = {
    "local.trellis.dev/v1/Service": "Service",
    "trellis.dev/v1alpha1/ServiceProfile": "ServiceProfile",
    "split.smi-spec.io/v1alpha1/TrafficSplit": "TrafficSplit",
    "split.smi-spec.io/v1alpha2/TrafficSplit": "TrafficSplit",
  };
  const k = known[`${apiVersion}/${kind}`];
  if (!k)
    return bad(
      `unknown apiVersion/kind ${JSON.stringify(apiVersion)}/${JSON.stringify(kind)}; expected local.trellis.dev/v1 Service, trellis.dev/v1alpha1 ServiceProfile or split.smi-spec.io/v1alpha1|v1alpha2 TrafficSplit`,
    );
  if (!isObj(metadata) || typeof metadata.name !== "string" || metadata.name === "")
    return bad(`${kind}: metadata.name: required`);
  const namespace = metadata.namespace ?? "default";
  if (typeof namespace !== "string" || !DNS_LABEL.test(namespace))
    return bad(`${kind} ${metadata.name}: metadata.namespace: expected a DNS-1123 label`);
  const name = metadata.name;
  const c = new Checker();
  const spec = c.object(value.spec, "spec", SPEC_FIELDS[k]);
  const problem = (code: DestinationErrorCode) => ({
    problem: {
      code,
      kind: k,
      key: `${namespace}/${name}`,
      reason: `${where}: ${k} ${namespace}/${name}: ${c.problems.join("; ")}`,
    },
  });
  if (k === "Service") {
    if (!DNS_LABEL.test(name)) c.fail("metadata.name", "expected a DNS-1123 label");
    const svc = spec && service(c, spec, namespace, name);
    return svc && c.problems.length === 0
      ? { resource: { kind: k, value: svc } }
      : problem("TRELLIS_E_DESTINATION_INVALID_SERVICE");
  }
  if (k === "ServiceProfile") {
    // Named by the target's FQDN; the target may be in another namespace (a client-side profile).
    const parts = name.split(".");
    if (
      parts.length < 4 ||
      `.${parts.slice(2).join(".")}` !== `.svc.${clusterDomain}` ||
      !DNS_LABEL.test(parts[0] ?? "") ||
      !DNS_LABEL.test(parts[1] ?? "")
    )
      c.fail("metadata.name", `expected the Service's fully qualified name <svc>.<ns>.svc.${clusterDomain}`);
    const sp = spec && profile(c, spec, namespace, name);
    return sp && c.problems.length === 0
      ? { resource: { kind: k, value: sp } }
      : problem("TRELLIS_E_DESTINATION_INVALID_PROFILE");
  }
  const ts = spec && split(c, spec, namespace, name, apiVersion === "split.smi-spec.io/v1alpha1");
  return ts && c.problems.length === 0
    ? { resource: { kind: k, value: ts } }
    : problem("TRELLIS_E_DESTINATION_INVALID_SPLIT");
}

const SPEC_FIELDS: Record<ResourceKind, readonly string[]> = {
  Service: ["clusterIP", "ports", "endpoints"],
  ServiceProfile: ["routes", "retryBudget", "opaquePorts"],
  TrafficSplit: ["service", "backends"],
};

function service(c: Checker, spec: Obj, namespace: string, name: string): Service | undefined {
  const clusterIP = c.string(spec.clusterIP, "spec.clusterIP", false);
  if (clusterIP !== undefined && isIP(clusterIP) === 0) c.fail("spec.clusterIP", "expected an IP address");
  const ports: ServicePort[] = [];
  (c.list(spec.ports, "spec.ports") ?? []).forEach((p, i) => {
    const path = `spec.ports[${i}]`;
    const o = c.object(p, path, ["name", "port", "targetPort", "protocol"]);
    if (!o) return;
    const port = c.int(o.port, `${path}.port`, 1, 65535);
    const targetPort = c.int(o.targetPort, `${path}.targetPort`, 1, 65535, port);
    const protocol = o.protocol ?? "http";
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
        labels[lk] = String(lv);
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

function profile(c: Checker, spec: Obj, namespace: string, name: string): ServiceProfile | undefined {
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

function requestMatch(c: Checker, v: unknown, path: string): RequestMatchSpec | undefined {
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
    const subs = items.map((s, i) => requestMatch(c, s, `${path}.${op}[${i}]`));
    if (subs.every((s) => s))
      parts.push(op === "all" ? { all: subs as RequestMatchSpec[] } : { any: subs as RequestMatchSpec[] });
  }
  if (o.not !== undefined) {
    const sub = requestMatch(c, o.not, `${path}.not`);
    if (sub) parts.push({ not: sub });
  }
  if (Object.keys(o).length === 0)
    return c.fail(path, "expected at least one of method, pathRegex, all, any, not");
  if (parts.length === 1) return parts[0];
  return parts.length > 1 ? { all: parts } : undefined;
}

function responseMatch(c: Checker, v: unknown, path: string): ResponseMatchSpec | undefined {
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
    const subs = items.map((s, i) => responseMatch(c, s, `${path}.${op}[${i}]`));
    if (subs.every((s) => s))
      parts.push(op === "all" ? { all: subs as ResponseMatchSpec[] } : { any: subs as ResponseMatchSpec[] });
  }
  if (o.not !== undefined) {
    const sub = responseMatch(c, o.not, `${path}.not`);
    if (sub) parts.push({ not: sub });
  }
  if (Object.keys(o).length === 0) return c.fail(path, "expected at least one of status, all, any, not");
  if (parts.length === 1) return parts[0];
  return parts.length > 1 ? { all: parts } : undefined;
}

/** A Kubernetes quantity (`1`, `0.5`, `900m`, `1k`) in thousandths; undefined when it is not one. */
export function parseQuantityMilli(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?|\.\d+)(m|k|M|G)?$/.exec(v);
  if (!m) return undefined;
  const scale = { m: 1, "": 1000, k: 1e6, M: 1e9, G: 1e12 }[m[2] ?? ""] ?? Number.NaN;
  const milli = Math.round(Number(m[1]) * scale);
  return Number.isFinite(milli) ? milli : undefined;
}

function split(
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
