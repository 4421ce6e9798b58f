/**
 * The proxy's Prometheus metrics, with Linkerd's names and labels so its queries and dashboards carry
 * over: HTTP golden metrics (`request_total`, `response_total`, `response_latency_ms`), transport
 * metrics (`tcp_*`) and the certificate's expiry. One registry per proxy; label sets are built once
 * per stack (a listener, a peer) and reused on the hot path.
 *
 * The sidecar keeps its series in its own small classes (./series.ts) and writes the text format
 * itself (./exposition.ts) instead of using prom-client: that library, with the node:v8 and
 * perf_hooks modules it loads, cost ~1.6 MiB of the proxy's idle RSS, and the sidecar runs in every
 * pod. The control plane still uses prom-client (and its default process metrics).
 */
import { Registry } from "./exposition.js";
import { PlainCounter, PlainGauge, SeriesCounter, SeriesGauge, SeriesHistogram } from "./series.js";
import { OTHER_AUTHORITY, Stacks } from "./stacks.js";
import { TcpMetrics } from "./tcp.js";

export { OTHER_AUTHORITY };

/** Linkerd's latency buckets, in ms. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
  30000, 40000, 50000,
];

/** The `dst_*` labels the proxy emits from a destination's and an endpoint's labels. */
export const DST_LABELS = [
  "dst_namespace",
  "dst_service",
  "dst_deployment",
  "dst_pod",
  "dst_serviceaccount",
] as const;

const STACK_LABELS = [
  "direction",
  "authority",
  "tls",
  "no_tls_reason",
  "client_id",
  "server_id",
  "namespace",
  "pod",
  "deployment",
  ...DST_LABELS,
] as const;
const TCP_LABELS = [
  "direction",
  "peer",
  "tls",
  "no_tls_reason",
  "client_id",
  "server_id",
  /** The address an intercepted connection was forwarded to when the destination service does not know it. */
  "target_addr",
  "namespace",
  "pod",
  "deployment",
] as const;

/** Labels of one stack: which direction, which peer, how it was secured. */
export type StackLabels = Partial<Record<(typeof STACK_LABELS)[number], string>>;
export type TcpLabels = Partial<Record<(typeof TCP_LABELS)[number], string>>;

export interface ResponseOutcome {
  status: number;
  grpcStatus?: string;
  /** Set when the proxy itself failed the request (no response from the peer or app). */
  failed?: boolean;
  /** A ServiceProfile response class's verdict, when one matched: it overrides the defaults. */
  isFailure?: boolean;
}

/** Linkerd's classification: grpc-status decides when present (non-0 fails), else HTTP 5xx fails. */
export function classify(outcome: ResponseOutcome): "success" | "failure" {
  if (outcome.failed) return "failure";
  if (outcome.isFailure !== undefined) return outcome.isFailure ? "failure" : "success";
  if (outcome.grpcStatus !== undefined) return outcome.grpcStatus === "0" ? "success" : "failure";
  return outcome.status >= 500 ? "failure" : "success";
}

export class ProxyMetrics {
  readonly registry = new Registry();
  /** request_total, response_total, response_latency_ms. */
  private readonly http: SeriesFamily;
  /** The same per ServiceProfile route: route_request_total, route_response_total, route_response_latency_ms. */
  private readonly routes: SeriesFamily;
  private readonly routeRetries: SeriesCounter;
  private readonly http2CutOffs: SeriesCounter;
  private readonly shedConnections: SeriesCounter;
  private readonly muxRefused: SeriesCounter;
  private readonly muxCutOffs: SeriesCounter;
  private readonly destinationEvictions: SeriesCounter;
  private readonly destinationsCached: SeriesGauge;
  /** Each label set's stack, and its id. */
  private readonly stacks: Stacks<StackLabels>;
  private readonly retainIdleMs: number;
  private readonly tcp: TcpMetrics;
  /** identity_cert_expiration_timestamp_seconds: `set` it to the leaf's notAfter, in Unix seconds. */
  readonly certExpiry: PlainGauge;
  /** identity_cert_refresh_count: `inc` it per certificate the identity service issued. */
  readonly certRefresh: PlainCounter;

  constructor(
    readonly podLabels: { namespace?: string; pod?: string; deployment?: string } = {},
    limits: MetricsLimits = {},
  ) {
    this.stacks = new Stacks(limits.maxAuthorities ?? Number.POSITIVE_INFINITY);
    this.retainIdleMs = limits.retainIdleMs ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.retainIdleMs) && limits.timer !== false) {
      const every = Math.max(1_000, Math.min(this.retainIdleMs / 2, 60_000));
      setInterval(() => this.sweep(performance.now()), every).unref();
    }
    const registry = this.registry;
    this.http = seriesFamily(registry, "", "");
    this.routes = seriesFamily(registry, "route_", ", per route");
    this.routeRetries = new SeriesCounter(
      "route_retry_total",
      "Total count of retries sent per route, within the retry budget.",
      registry,
    );
    this.http2CutOffs = new SeriesCounter(
      "http2_session_cut_off_total",
      "Total count of HTTP/2 client connections the proxy cut off for abuse, per reason.",
      registry,
    );
    this.shedConnections = new SeriesCounter(
      "tcp_connection_shed_total",
      "Total count of connections a listener refused or closed to protect the proxy, per listener and reason.",
      registry,
    );
    this.muxRefused = new SeriesCounter(
      "mux_stream_refused_total",
      "Total count of mux streams a peer opened that the proxy refused, per reason.",
      registry,
    );
    this.muxCutOffs = new SeriesCounter(
      "mux_connection_cut_off_total",
      "Total count of mux connections from peers the proxy cut off for abuse, per reason.",
      registry,
    );
    this.destinationEvictions = new SeriesCounter(
      "destination_cache_evicted_total",
      "Total count of authorities whose discovery streams were closed to make room (capacity) or unused (idle).",
      registry,
    );
    this.destinationsCached = new SeriesGauge(
      "destination_cache_size",
      "Number of authorities whose discovery streams are open.",
      registry,
    );
    this.tcp = new TcpMetrics(registry);
    this.certExpiry = new PlainGauge(
      "identity_cert_expiration_timestamp_seconds",
      "Time when this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch).",
      registry,
    );
    this.certRefresh = new PlainCounter(
      "identity_cert_refresh_count",
      "The total number of times this proxy's mTLS identity certificate has been refreshed by the identity service.",
      registry,
    );
  }

  /** A stack's labels with the pod's own labels added; build once per stack, reuse per request. */
  stack(labels: StackLabels): StackLabels {
    return this.stacks.get({ ...definedOnly(this.podLabels), ...definedOnly(labels) });
  }

  /**
   * Drops the series that have not moved for the retain time (TRELLIS_PROXY_METRICS_RETAIN_IDLE_MS),
   * and the stacks no one has used for twice that, freeing their authorities' places. Runs on a timer;
   * `now` is performance.now().
   */
  sweep(now: number): void {
    this.registry.sweep(now, this.retainIdleMs);
    this.stacks.sweep(now, 2 * this.retainIdleMs);
  }

  /** Counts one request and returns the function that records its response. */
  request(labels: StackLabels): RequestRecorder {
    const stack = labels as Record<string, string>;
    return this.recorder(this.http, this.stacks.id(labels), () => ({ ...stack }), true);
  }

  /** Counts one request on a ServiceProfile route (`dst` the service's name, `rt_route` the route's). */
  route(dst: string, route: string): RequestRecorder {
    const labels = () => ({ ...definedOnly(this.podLabels), direction: "outbound", dst, rt_route: route });
    return this.recorder(this.routes, `${dst}|${route}`, labels, false);
  }

  /**
   * Counts a request in one family of series (per stack, or per route) and records its response:
   * latency at the first byte (once), the classified response at the end. Series are found by `id`
   * plus the response's values; label objects are only built for a new series.
   */
  private recorder(
    family: SeriesFamily,
    id: string,
    labels: () => Record<string, string>,
    grpcLabel: boolean,
  ): RequestRecorder {
    family.requests.inc(id, labels);
    const start = performance.now();
    let firstByte = false;
    return {
      firstByte: (status: number) => {
        if (firstByte) return;
        firstByte = true;
        family.latency.observe(
          `${id}|${status}`,
          () => ({ ...labels(), status_code: String(status) }),
          performance.now() - start,
        );
      },
      end: (outcome: ResponseOutcome) => {
        const classification = classify(outcome);
        const grpc = grpcLabel ? outcome.grpcStatus : undefined;
        family.responses.inc(`${id}|${outcome.status}|${classification}|${grpc ?? ""}`, () => {
          const response: Record<string, string> = {
            ...labels(),
            status_code: String(outcome.status),
            classification,
          };
          if (grpc !== undefined) response.grpc_status = grpc;
          return response;
        });
      },
    };
  }

  /** Counts one retry sent on a route. */
  retry(dst: string, route: string): void {
    this.routeRetries.inc(`${dst}|${route}`, () => ({
      ...definedOnly(this.podLabels),
      direction: "outbound",
      dst,
      rt_route: route,
    }));
  }

  /** Counts one HTTP/2 client connection cut off for abuse (rapid reset, a flood, a stalled window...). */
  http2CutOff(direction: "inbound" | "outbound", reason: string): void {
    this.http2CutOffs.inc(`${direction}|${reason}`, () => ({
      ...definedOnly(this.podLabels),
      direction,
      reason,
    }));
  }

  /** Counts one connection a listener refused or closed to protect the proxy (transport/shed.ts). */
  connectionShed(listener: string, reason: string): void {
    this.shedConnections.inc(`${listener}|${reason}`, () => ({
      ...definedOnly(this.podLabels),
      listener,
      reason,
    }));
  }

  /** Counts one mux stream refused (`max_streams`) on a peer's connection. */
  muxStreamRefused(reason: string): void {
    this.muxRefused.inc(reason, () => ({ ...definedOnly(this.podLabels), direction: "inbound", reason }));
  }

  /** Counts one mux connection from a peer cut off for abuse. */
  muxCutOff(reason: string): void {
    this.muxCutOffs.inc(reason, () => ({ ...definedOnly(this.podLabels), direction: "inbound", reason }));
  }

  /** Counts authorities whose discovery streams closed, and sets how many are still open. */
  destinationCache(size: number, evicted?: { reason: "capacity" | "idle"; count: number }): void {
    const labels = () => ({ ...definedOnly(this.podLabels) });
    this.destinationsCached.set("", labels, size);
    if (evicted && evicted.count > 0)
      this.destinationEvictions.inc(
        evicted.reason,
        () => ({ ...labels(), reason: evicted.reason }),
        evicted.count,
      );
  }

  /** Counts a connection from open to close, with the bytes it carried (./tcp.ts). */
  connection(labels: TcpLabels, socket: import("node:net").Socket): void {
    const full = { ...definedOnly(this.podLabels), ...definedOnly(labels) } as Record<string, string>;
    // One key per connection, for all five series: the values in TCP_LABELS' order, so equal label
    // sets built in another key order are still one series.
    this.tcp.connection(JSON.stringify(TCP_LABELS.map((name) => full[name] ?? "")), full, socket);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.tcp.beforeScrape();
    return { contentType: this.registry.contentType, body: this.registry.render() };
  }
}

export interface MetricsLimits {
  /** Authorities with series of their own; later ones are counted under OTHER_AUTHORITY. */
  maxAuthorities?: number;
  /** How long a series may stand still before it is dropped (default: never). */
  retainIdleMs?: number;
  /** Whether a timer sweeps (default true); without it the caller calls `sweep()`. */
  timer?: boolean;
}

interface SeriesFamily {
  requests: SeriesCounter;
  responses: SeriesCounter;
  latency: SeriesHistogram;
}

/** Linkerd's golden HTTP metrics under a name prefix (none, or `route_`). */
function seriesFamily(registry: Registry, prefix: string, per: string): SeriesFamily {
  return {
    requests: new SeriesCounter(`${prefix}request_total`, `Total count of HTTP requests${per}.`, registry),
    responses: new SeriesCounter(`${prefix}response_total`, `Total count of HTTP responses${per}.`, registry),
    latency: new SeriesHistogram(
      `${prefix}response_latency_ms`,
      `Elapsed times between a request's headers being received and its response's first byte${per}, in ms.`,
      registry,
      LATENCY_BUCKETS_MS,
    ),
  };
}

export interface RequestRecorder {
  /** The response's headers (status) reached the client side: records the latency once. */
  firstByte(status: number): void;
  /** The response ended (or the request failed): counts it, classified. */
  end(outcome: ResponseOutcome): void;
}

/** Endpoint and destination labels → the `dst_*` labels the proxy emits (unknown keys dropped). */
export function dstLabels(...sources: Record<string, string>[]): StackLabels {
  const out: StackLabels = {};
  for (const source of sources) {
    for (const [k, v] of Object.entries(source)) {
      const name = `dst_${k}` as (typeof DST_LABELS)[number];
      if ((DST_LABELS as readonly string[]).includes(name)) out[name] = v;
    }
  }
  return out;
}

function definedOnly<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== "") out[k] = v;
  return out as T;
}
