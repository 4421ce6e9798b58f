/**
 * The proxy's error catalogue, in the shape every component's takes (lib/errors.ts): each failure the
 * proxy itself answers for has a stable code, the HTTP status it answers with (codes that close the
 * connection instead have none) and a summary that starts the error's message, which the
 * `trellis-proxy-error` response header carries (http/error-response.ts writes every such answer).
 * Codes are never reused.
 */
import { type CatalogueEntry, catalogue } from "../lib/errors.js";

export const PROXY_ERRORS = {
  /** A TRELLIS_PROXY_* variable is missing or malformed (the proxy exits 2 at start). */
  TRELLIS_E_PROXY_CONFIG: { summary: "invalid configuration" },
  /** The request names no authority (no Host header or :authority). */
  TRELLIS_E_PROXY_NO_AUTHORITY: { summary: "the request has no Host or :authority", http: 400 },
  /** The destination has no endpoints. */
  TRELLIS_E_PROXY_NO_ENDPOINTS: { summary: "the destination has no endpoints", http: 503 },
  /** The peer proxy presented another identity than the one announced for it: nothing was sent. */
  TRELLIS_E_PROXY_PEER_IDENTITY: { summary: "the peer's identity is not the one expected", http: 502 },
  /** Connecting to the endpoint failed (refused, unreachable, TLS handshake failed). */
  TRELLIS_E_PROXY_CONNECT: { summary: "could not connect to the endpoint", http: 502 },
  /** Connecting to the endpoint took longer than TRELLIS_PROXY_CONNECT_TIMEOUT_MS. */
  TRELLIS_E_PROXY_CONNECT_TIMEOUT: { summary: "connecting to the endpoint timed out", http: 504 },
  /** The ServiceProfile route's timeout passed before the response began. */
  TRELLIS_E_PROXY_ROUTE_TIMEOUT: { summary: "the route's timeout passed before a response", http: 504 },
  /** The endpoint reset or closed the request before answering. */
  TRELLIS_E_PROXY_UPSTREAM_RESET: { summary: "the endpoint closed the request before answering", http: 502 },
  /** Inbound: the app refused the connection or is not listening. */
  TRELLIS_E_PROXY_APP_UNREACHABLE: { summary: "the app is not reachable on its port", http: 502 },
  /** Inbound: the requested app port is not one of TRELLIS_PROXY_INBOUND_PORTS. */
  TRELLIS_E_PROXY_PORT_FORBIDDEN: { summary: "the port is not an inbound app port", http: 403 },
  /** Inbound: a meshed request without a valid trellis-dst-port. */
  TRELLIS_E_PROXY_NO_DST_PORT: { summary: "the request names no destination port", http: 400 },
  /** The proxy is draining for shutdown and takes no new requests. */
  TRELLIS_E_PROXY_SHUTTING_DOWN: { summary: "the proxy is shutting down", http: 503 },
  /** The first bytes of a connection were neither HTTP/1 nor HTTP/2 (the connection is closed). */
  TRELLIS_E_PROXY_NOT_HTTP: { summary: "the connection did not start with HTTP" },
  /** The client sent nothing or too little within TRELLIS_PROXY_DETECT_TIMEOUT_MS (closed). */
  TRELLIS_E_PROXY_DETECT_TIMEOUT: { summary: "the client sent no request in time" },
  /** An HTTP/2 request's header list is over TRELLIS_PROXY_MAX_HEADER_BYTES (RFC 9113 §6.5.2 sizes). */
  TRELLIS_E_PROXY_HEADERS_TOO_LARGE: { summary: "the request's headers are too large", http: 431 },
  /** The request's destination is this proxy's own listener: forwarding it would loop forever. */
  TRELLIS_E_PROXY_LOOP: { summary: "the request would loop back into this proxy", http: 502 },
  /** An opaque stream's header was malformed (the connection is closed). */
  TRELLIS_E_PROXY_OPAQUE_HEADER: { summary: "the opaque stream's header is malformed" },
  /** A peer broke the mux protocol that carries HTTP/1.1 between proxies (the connection is closed). */
  TRELLIS_E_PROXY_MUX_PROTOCOL: { summary: "the peer broke the mux protocol" },
} as const satisfies Record<string, CatalogueEntry>;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

const entries: Record<ProxyErrorCode, CatalogueEntry> = PROXY_ERRORS;

/** `CODE: summary: reason`, for log lines. */
export const { describe } = catalogue(PROXY_ERRORS);

/** Failures that leave a request unsent: no connection to the endpoint was made. */
const UNSENT: ReadonlySet<ProxyErrorCode> = new Set([
  "TRELLIS_E_PROXY_CONNECT",
  "TRELLIS_E_PROXY_CONNECT_TIMEOUT",
  "TRELLIS_E_PROXY_PEER_IDENTITY",
]);

export class ProxyError extends Error {
  /**
   * The request never reached an app: no connection was made, the peer refused the stream, or the
   * peer's app refused the connection. It may be sent to another endpoint (outbound/balance.ts).
   */
  readonly unprocessed: boolean;

  constructor(
    readonly code: ProxyErrorCode,
    detail?: string,
    opts: { unprocessed?: boolean } = {},
  ) {
    super(detail ? `${entries[code].summary}: ${detail}` : entries[code].summary);
    this.name = "ProxyError";
    this.unprocessed = opts.unprocessed ?? UNSENT.has(code);
  }
  /** The HTTP status the request is answered with (502 for codes that never answer one). */
  get status(): number {
    return entries[this.code].http ?? 502;
  }
}

/** Maps a connection failure to its catalogue entry. */
export function connectError(err: unknown, target: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (e?.code === "TRELLIS_E_PROXY_PEER_IDENTITY") {
    return new ProxyError("TRELLIS_E_PROXY_PEER_IDENTITY", `${target}: ${e.message}`);
  }
  if (/timed out/.test(String(e?.message))) return new ProxyError("TRELLIS_E_PROXY_CONNECT_TIMEOUT", target);
  // A TLS alert from the peer says why it refused the handshake (say, "no application protocol").
  const alert = /alert ([a-z ]+)/i.exec(String(e?.message))?.[1];
  const detail = alert
    ? `${e.code ?? "TLS"}, the peer's TLS alert: ${alert}`
    : (e?.code ?? e?.message ?? String(err));
  return new ProxyError("TRELLIS_E_PROXY_CONNECT", `${target}: ${detail}`);
}
