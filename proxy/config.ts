/**
 * The proxy's whole configuration: every `TRELLIS_PROXY_*` variable, its default and unit, in one
 * place. `loadConfig` reads them through an injectable lookup (tests pass a plain object), parses
 * everything, and reports every bad variable at once in one ConfigError.
 */
import { type HostPort, parseHostPort } from "../lib/address.js";
import type { IdentityClientOptions } from "../lib/identity/options.js";
import { IDENTITY_CLIENT_TIMING_DEFAULTS } from "../lib/identity/timing.js";
import { type PortSet, parsePortList, portsOf } from "../lib/ports.js";
import { DEFAULT_OPAQUE_PORTS, PROXY_ENV, PROXY_PORTS } from "../lib/proxy-env.js";
import { parseSpiffeId } from "../lib/spiffe.js";
import { type DestinationConfig, parseDestinations } from "./config-table.js";

export {
  type DestinationConfig,
  type EndpointConfig,
  normalizeAuthority,
  parseDestinations,
} from "./config-table.js";

/** The variable names live in lib/proxy-env.ts, which the injector shares; read them here as ENV. */
export const ENV = PROXY_ENV;

/** Defaults, units in the names. */
export const DEFAULTS = {
  INBOUND_LISTEN_ADDR: `0.0.0.0:${PROXY_PORTS.INBOUND}`,
  OUTBOUND_LISTEN_ADDR: `127.0.0.1:${PROXY_PORTS.OUTBOUND}`,
  ADMIN_LISTEN_ADDR: `0.0.0.0:${PROXY_PORTS.ADMIN}`,
  INBOUND_APP_HOST: "127.0.0.1",
  IDENTITY_MIN_REFRESH_MS: IDENTITY_CLIENT_TIMING_DEFAULTS.minRefreshMs,
  IDENTITY_MAX_REFRESH_MS: IDENTITY_CLIENT_TIMING_DEFAULTS.maxRefreshMs,
  IDENTITY_RETRY_BASE_MS: IDENTITY_CLIENT_TIMING_DEFAULTS.retryBaseMs,
  IDENTITY_RETRY_MAX_MS: IDENTITY_CLIENT_TIMING_DEFAULTS.retryMaxMs,
  DETECT_TIMEOUT_MS: 10_000,
  /** How long a peer may take to finish its TLS handshake on the inbound listener. */
  TLS_HANDSHAKE_TIMEOUT_MS: 10_000,
  /**
   * Connections each listener holds at once; past it, new ones are closed as they are accepted
   * (counted in tcp_connection_shed_total). The admin listener only serves scrapes and probes.
   */
  INBOUND_MAX_CONNECTIONS: 10_000,
  OUTBOUND_MAX_CONNECTIONS: 10_000,
  ADMIN_MAX_CONNECTIONS: 100,
  /**
   * Streams a peer may hold open at once on one mux connection; more are refused. Also the most
   * the setting may be: the mux protocol's own limit (MAX_STREAMS in transport/mux/frame.ts). A
   * client proxy's pool holds up to that many streams, so below it a busy peer meets refusals.
   */
  MUX_MAX_STREAMS: 1024,
  /** Authorities whose discovery streams are kept at once; the least recently used is closed past it. */
  DESTINATION_CACHE_MAX: 5_000,
  /** Authorities with metric series of their own; the rest are counted under `authority="_other"`. */
  METRICS_MAX_AUTHORITIES: 1_000,
  /** How long a metric series may stand still before it is dropped (Linkerd's retain-idle: 10 min). */
  METRICS_RETAIN_IDLE_MS: 600_000,
  CONNECT_TIMEOUT_MS: 3_000,
  MAX_HEADER_BYTES: 16_384,
  /** SETTINGS_MAX_CONCURRENT_STREAMS of the HTTP/2 listeners: streams one client may have open. */
  HTTP2_MAX_CONCURRENT_STREAMS: 1_000,
  /**
   * Streams an HTTP/2 client may reset before their response is complete, per 10 s, before it is cut
   * off (rapid reset). Below nghttp2's own limit (1 000 at once, then 33/s), which sends a GOAWAY the
   * proxy is never told of.
   */
  HTTP2_MAX_RESETS: 200,
  /** How long a response may wait on an HTTP/2 client's flow-control window before it is reset. */
  HTTP2_STALL_TIMEOUT_MS: 60_000,
  SHUTDOWN_GRACE_MS: 30_000,
  /** Discovery streams of an authority unused for this long are closed. */
  DESTINATION_IDLE_MS: 600_000,
  /** How long a request waits for the first answer about an authority it is the first to name. */
  DISCOVERY_FIRST_ANSWER_TIMEOUT_MS: 1_000,
  /** Ports whose intercepted traffic is opaque TCP without detection (Linkerd's default list). */
  OPAQUE_PORTS: DEFAULT_OPAQUE_PORTS.join(","),
  /** Consecutive failures that take an endpoint out of its balancer (Linkerd's default: 7). */
  FAILURE_ACCRUAL_CONSECUTIVE_FAILURES: 7,
  /** Shortest and longest time an endpoint stays out before one request probes it. */
  FAILURE_ACCRUAL_MIN_PENALTY_MS: 1_000,
  FAILURE_ACCRUAL_MAX_PENALTY_MS: 60_000,
  /** Where a peer proxy's inbound listener is when the destination does not say. */
  PEER_INBOUND_PORT: PROXY_PORTS.INBOUND,
} as const;

/** host:port, as given and split. */
export type ListenAddr = HostPort;

export interface ProxyConfig {
  inboundListen: ListenAddr;
  outboundListen: ListenAddr;
  adminListen: ListenAddr;
  /** App ports the inbound side forwards to; empty means any port but the proxy's own. */
  inboundPorts: ReadonlySet<number>;
  inboundAppHost: string;
  /** The identity client's options, the proxy's own SPIFFE ID as `name`. */
  identity: { name: string } & Omit<IdentityClientOptions, "identity">;
  destinations: DestinationConfig[];
  /** The destination service, when the proxy discovers endpoints (else only the static table). */
  destinationService?: {
    addr: string;
    svcName?: string;
    contextNamespace: string;
    idleMs: number;
    /** Authorities whose streams are kept at once (least recently used closed first). */
    maxCached: number;
  };
  /** When an endpoint is taken out of its balancer, and for how long (balance/index.ts). */
  failureAccrual: { maxFailures: number; backoffBaseMs: number; backoffMaxMs: number };
  detectTimeoutMs: number;
  /** How long an inbound TLS handshake may take, ms. */
  tlsHandshakeTimeoutMs: number;
  /** Connections each listener holds at once; past it new ones are closed on accept. */
  maxConnections: { inbound: number; outbound: number; admin: number };
  /** Streams a peer may hold open at once on one inbound mux connection. */
  muxMaxStreams: number;
  /** Distinct `authority` label values in the metrics; more are folded into `_other`. */
  metricsMaxAuthorities: number;
  /** How long a series may stand still (a pod gone, an authority no longer asked for) before it is dropped. */
  metricsRetainIdleMs: number;
  /**
   * Ports whose intercepted outbound connections are opaque TCP from their first byte (no HTTP
   * detection, so a server that speaks first is not kept waiting), besides those the destination
   * service announces as opaque.
   */
  opaquePorts: PortSet;
  connectTimeoutMs: number;
  maxHeaderBytes: number;
  /** What an HTTP/2 client of the outbound or inbound listener may do before it is cut off. */
  http2: Http2Limits;
  shutdownGraceMs: number;
  pod: { namespace?: string; name?: string; deployment?: string };
}

/** The limits of the proxy's HTTP/2 servers (proxy/http/abuse.ts applies them). */
export interface Http2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: a client opening more is cut off. */
  maxConcurrentStreams: number;
  /** Streams a client may reset before their response is complete, per 10 s, before it is cut off. */
  maxResets: number;
  /** A response that could not be written for this long (the client's window stays shut) is reset, ms. */
  stallTimeoutMs: number;
}

export class ConfigError extends Error {
  readonly code = "TRELLIS_E_PROXY_CONFIG";
  constructor(readonly problems: string[]) {
    super(`invalid proxy configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Lookup = (name: string) => string | undefined;

/** Reads and checks every variable; throws one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> | Lookup = process.env): ProxyConfig {
  const get: Lookup = typeof env === "function" ? env : (name) => env[name];
  const problems: string[] = [];
  const str = (name: string, fallback?: string): string => {
    const value = get(name)?.trim();
    if (value !== undefined && value !== "") return value;
    if (fallback !== undefined) return fallback;
    problems.push(`${name} is required`);
    return "";
  };
  const int = (name: string, fallback: number, min = 0): number => {
    const raw = get(name)?.trim();
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      problems.push(`${name}="${raw}" must be an integer of at least ${min}`);
      return fallback;
    }
    return n;
  };
  const addr = (name: string, fallback: string): ListenAddr => {
    const raw = str(name, fallback);
    const parsed = parseHostPort(raw);
    if (!parsed) {
      problems.push(`${name}="${raw}" is not host:port (port 0-65535)`);
      return { host: "127.0.0.1", port: 0 };
    }
    return parsed;
  };

  const identityName = str(ENV.IDENTITY_NAME);
  if (identityName && !parseSpiffeId(identityName)) {
    problems.push(`${ENV.IDENTITY_NAME}="${identityName}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`);
  }
  const anchors = str(ENV.IDENTITY_TRUST_ANCHORS);
  if (anchors && !anchors.includes("-----BEGIN CERTIFICATE-----")) {
    problems.push(`${ENV.IDENTITY_TRUST_ANCHORS} holds no PEM certificate`);
  }
  const svcName = str(ENV.IDENTITY_SVC_NAME);
  if (svcName && !parseSpiffeId(svcName)) {
    problems.push(`${ENV.IDENTITY_SVC_NAME}="${svcName}" is not a SPIFFE ID`);
  }
  const svcAddr = str(ENV.IDENTITY_SVC_ADDR);
  if (svcAddr && !parseHostPort(svcAddr))
    problems.push(`${ENV.IDENTITY_SVC_ADDR}="${svcAddr}" is not host:port`);

  const inboundPorts = new Set<number>();
  for (const item of (get(ENV.INBOUND_PORTS) ?? "").split(",")) {
    const s = item.trim();
    if (s === "") continue;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      problems.push(`${ENV.INBOUND_PORTS}: "${s}" is not a port`);
    else inboundPorts.add(n);
  }

  const config: ProxyConfig = {
    inboundListen: addr(ENV.INBOUND_LISTEN_ADDR, DEFAULTS.INBOUND_LISTEN_ADDR),
    outboundListen: addr(ENV.OUTBOUND_LISTEN_ADDR, DEFAULTS.OUTBOUND_LISTEN_ADDR),
    adminListen: addr(ENV.ADMIN_LISTEN_ADDR, DEFAULTS.ADMIN_LISTEN_ADDR),
    inboundPorts,
    inboundAppHost: str(ENV.INBOUND_APP_HOST, DEFAULTS.INBOUND_APP_HOST),
    identity: {
      name: identityName,
      trustAnchorsPem: anchors,
      tokenFile: str(ENV.IDENTITY_TOKEN_FILE),
      svcAddr,
      svcName,
      minRefreshMs: int(ENV.IDENTITY_MIN_REFRESH_MS, DEFAULTS.IDENTITY_MIN_REFRESH_MS),
      maxRefreshMs: int(ENV.IDENTITY_MAX_REFRESH_MS, DEFAULTS.IDENTITY_MAX_REFRESH_MS),
      retryBaseMs: int(ENV.IDENTITY_RETRY_BASE_MS, DEFAULTS.IDENTITY_RETRY_BASE_MS, 1),
      retryMaxMs: int(ENV.IDENTITY_RETRY_MAX_MS, DEFAULTS.IDENTITY_RETRY_MAX_MS, 1),
    },
    destinations: parseDestinations(get(ENV.DESTINATIONS), problems),
    destinationService: destinationService(get, problems),
    failureAccrual: failureAccrual(int, problems),
    detectTimeoutMs: int(ENV.DETECT_TIMEOUT_MS, DEFAULTS.DETECT_TIMEOUT_MS, 1),
    tlsHandshakeTimeoutMs: int(ENV.TLS_HANDSHAKE_TIMEOUT_MS, DEFAULTS.TLS_HANDSHAKE_TIMEOUT_MS, 1),
    maxConnections: {
      inbound: int(ENV.INBOUND_MAX_CONNECTIONS, DEFAULTS.INBOUND_MAX_CONNECTIONS, 1),
      outbound: int(ENV.OUTBOUND_MAX_CONNECTIONS, DEFAULTS.OUTBOUND_MAX_CONNECTIONS, 1),
      admin: int(ENV.ADMIN_MAX_CONNECTIONS, DEFAULTS.ADMIN_MAX_CONNECTIONS, 1),
    },
    muxMaxStreams: muxMaxStreams(int, problems),
    metricsMaxAuthorities: int(ENV.METRICS_MAX_AUTHORITIES, DEFAULTS.METRICS_MAX_AUTHORITIES, 1),
    metricsRetainIdleMs: int(ENV.METRICS_RETAIN_IDLE_MS, DEFAULTS.METRICS_RETAIN_IDLE_MS, 1_000),
    opaquePorts: opaquePorts(get(ENV.OPAQUE_PORTS), problems),
    connectTimeoutMs: int(ENV.CONNECT_TIMEOUT_MS, DEFAULTS.CONNECT_TIMEOUT_MS, 1),
    maxHeaderBytes: int(ENV.MAX_HEADER_BYTES, DEFAULTS.MAX_HEADER_BYTES, 1024),
    http2: {
      maxConcurrentStreams: int(ENV.HTTP2_MAX_CONCURRENT_STREAMS, DEFAULTS.HTTP2_MAX_CONCURRENT_STREAMS, 1),
      maxResets: int(ENV.HTTP2_MAX_RESETS, DEFAULTS.HTTP2_MAX_RESETS, 1),
      stallTimeoutMs: int(ENV.HTTP2_STALL_TIMEOUT_MS, DEFAULTS.HTTP2_STALL_TIMEOUT_MS, 1),
    },
    shutdownGraceMs: int(ENV.SHUTDOWN_GRACE_MS, DEFAULTS.SHUTDOWN_GRACE_MS),
    pod: {
      namespace: get(ENV.POD_NAMESPACE) || undefined,
      name: get(ENV.POD_NAME) || undefined,
      deployment: get(ENV.DEPLOYMENT) || undefined,
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Unset: Linkerd's default list; set (even empty): exactly the ports and ranges it lists. */
function opaquePorts(raw: string | undefined, problems: string[]): PortSet {
  if (raw === undefined) return portsOf(DEFAULT_OPAQUE_PORTS);
  const parsed = parsePortList(raw);
  if ("ports" in parsed) return parsed.ports;
  problems.push(
    `${ENV.OPAQUE_PORTS}: ${parsed.bad.map((b) => `"${b}"`).join(", ")} not a port (1-65535) or a range such as 8000-8100`,
  );
  return portsOf(DEFAULT_OPAQUE_PORTS);
}

function muxMaxStreams(
  int: (name: string, fallback: number, min?: number) => number,
  problems: string[],
): number {
  const n = int(ENV.MUX_MAX_STREAMS, DEFAULTS.MUX_MAX_STREAMS, 1);
  if (n <= DEFAULTS.MUX_MAX_STREAMS) return n;
  problems.push(
    `${ENV.MUX_MAX_STREAMS}=${n} is above the mux protocol's limit of ${DEFAULTS.MUX_MAX_STREAMS}`,
  );
  return DEFAULTS.MUX_MAX_STREAMS;
}

function failureAccrual(
  int: (name: string, fallback: number, min?: number) => number,
  problems: string[],
): ProxyConfig["failureAccrual"] {
  const maxFailures = int(
    ENV.FAILURE_ACCRUAL_CONSECUTIVE_FAILURES,
    DEFAULTS.FAILURE_ACCRUAL_CONSECUTIVE_FAILURES,
    1,
  );
  const backoffBaseMs = int(ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS, DEFAULTS.FAILURE_ACCRUAL_MIN_PENALTY_MS, 1);
  const backoffMaxMs = int(ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS, DEFAULTS.FAILURE_ACCRUAL_MAX_PENALTY_MS, 1);
  if (backoffMaxMs < backoffBaseMs)
    problems.push(
      `${ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS}=${backoffMaxMs} is below ${ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS}=${backoffBaseMs}`,
    );
  return { maxFailures, backoffBaseMs, backoffMaxMs };
}

function destinationService(get: Lookup, problems: string[]): ProxyConfig["destinationService"] {
  const addr = get(ENV.DESTINATION_SVC_ADDR)?.trim();
  if (!addr) return undefined;
  if (!parseHostPort(addr)) problems.push(`${ENV.DESTINATION_SVC_ADDR}="${addr}" is not host:port`);
  const svcName = get(ENV.DESTINATION_SVC_NAME)?.trim() || undefined;
  if (svcName && !parseSpiffeId(svcName)) {
    problems.push(`${ENV.DESTINATION_SVC_NAME}="${svcName}" is not a SPIFFE ID`);
  }
  const contextNamespace =
    get(ENV.DESTINATION_CONTEXT_NAMESPACE)?.trim() || get(ENV.POD_NAMESPACE)?.trim() || "default";
  const rawIdle = get(ENV.DESTINATION_IDLE_MS)?.trim();
  let idleMs: number = DEFAULTS.DESTINATION_IDLE_MS;
  if (rawIdle) {
    idleMs = Number(rawIdle);
    if (!Number.isInteger(idleMs) || idleMs < 1) {
      problems.push(`${ENV.DESTINATION_IDLE_MS}="${rawIdle}" must be an integer of at least 1`);
      idleMs = DEFAULTS.DESTINATION_IDLE_MS;
    }
  }
  const rawMax = get(ENV.DESTINATION_CACHE_MAX)?.trim();
  let maxCached: number = DEFAULTS.DESTINATION_CACHE_MAX;
  if (rawMax) {
    maxCached = Number(rawMax);
    if (!Number.isInteger(maxCached) || maxCached < 1) {
      problems.push(`${ENV.DESTINATION_CACHE_MAX}="${rawMax}" must be an integer of at least 1`);
      maxCached = DEFAULTS.DESTINATION_CACHE_MAX;
    }
  }
  return { addr, svcName, contextNamespace, idleMs, maxCached };
}
