/**
 * The proxy's error catalogue: every failure the proxy itself answers for has a stable code, an HTTP
 * status and a sentence for the `trellis-proxy-error` response header. Codes are never reused.
 */

/** Response header naming why the proxy, not the app, answered. */
export const PROXY_ERROR_HEADER = "trellis-proxy-error";

export const PROXY_ERRORS = {
  /** A TRELLIS_PROXY_* variable is missing or malformed (the proxy exits 2 at start). */
  TRELLIS_E_PROXY_CONFIG: { status: 0, text: "invalid configuration" },
  /** The request names no authority (no Host header or :authority). */
  TRELLIS_E_PROXY_NO_AUTHORITY: { status: 400, text: "the request has no Host or :authority" },
  /** The destination has no endpoints. */
  TRELLIS_E_PROXY_NO_ENDPOINTS: { status: 503, text: "the destination has no endpoints" },
  /** The peer proxy presented another identity than the one announced for it: nothing was sent. */
  TRELLIS_E_PROXY_PEER_IDENTITY: { status: 502, text: "the peer's identity is not the one expected" },
  /** Connecting to the endpoint failed (refused, unreachable, TLS handshake failed). */
  TRELLIS_E_PROXY_CONNECT: { status: 502, text: "could not connect to the endpoint" },
  /** Connecting to the endpoint took longer than TRELLIS_PROXY_CONNECT_TIMEOUT_MS. */
  TRELLIS_E_PROXY_CONNECT_TIMEOUT: { status: 504, text: "connecting to the endpoint timed out" },
  /** The ServiceProfile route's timeout passed before the response began. */
  TRELLIS_E_PROXY_ROUTE_TIMEOUT: { status: 504, text: "the route's timeout passed before a response" },
  /** The endpoint reset or closed the request before answering. */
  TRELLIS_E_PROXY_UPSTREAM_RESET: { status: 502, text: "the endpoint closed the request before answering" },
  /** Inbound: the app refused the connection or is not listening. */
  TRELLIS_E_PROXY_APP_UNREACHABLE: { status: 502, text: "the app is not reachable on its port" },
  /** Inbound: the requested app port is not one of TRELLIS_PROXY_INBOUND_PORTS. */
  TRELLIS_E_PROXY_PORT_FORBIDDEN: { status: 403, text: "the port is not an inbound app port" },
  /** Inbound: a meshed request without a valid trellis-dst-port. */
  TRELLIS_E_PROXY_NO_DST_PORT: { status: 400, text: "the request names no destination port" },
  /** The proxy is draining for shutdown and takes no new requests. */
  TRELLIS_E_PROXY_SHUTTING_DOWN: { status: 503, text: "the proxy is shutting down" },
  /** The first bytes of a connection were neither HTTP/1 nor HTTP/2 (the connection is closed). */
  TRELLIS_E_PROXY_NOT_HTTP: { status: 0, text: "the connection did not start with HTTP" },
  /** The client sent nothing or too little within TRELLIS_PROXY_DETECT_TIMEOUT_MS (closed). */
  TRELLIS_E_PROXY_DETECT_TIMEOUT: { status: 0, text: "the client sent no request in time" },
  /** An HTTP/2 request's header list is over TRELLIS_PROXY_MAX_HEADER_BYTES (RFC 9113 §6.5.2 sizes). */
  TRELLIS_E_PROXY_HEADERS_TOO_LARGE: { status: 431, text: "the request's headers are too large" },
  /** The request's destination is this proxy's own listener: forwarding it would loop forever. */
  TRELLIS_E_PROXY_LOOP: { status: 502, text: "the request would loop back into this proxy" },
  /** An opaque stream's header was malformed (the connection is closed). */
  TRELLIS_E_PROXY_OPAQUE_HEADER: { status: 0, text: "the opaque stream's header is malformed" },
  /** A peer broke the mux protocol that carries HTTP/1.1 between proxies (the connection is closed). */
  TRELLIS_E_PROXY_MUX_PROTOCOL: { status: 0, text: "the peer broke the mux protocol" },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    detail?: string,
  ) {
    super(detail ? `${PROXY_ERRORS[code].text}: ${detail}` : PROXY_ERRORS[code].text);
    this.name = "ProxyError";
  }
  get status(): number {
    return PROXY_ERRORS[this.code].status || 502;
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
