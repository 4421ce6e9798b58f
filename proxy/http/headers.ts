/**
 * Header hygiene between HTTP/1.1 and HTTP/2: hop-by-hop headers never cross the proxy, pseudo
 * headers are rebuilt by each side, and the mesh's own headers are set by the proxy only.
 */
import type { IncomingHttpHeaders } from "node:http";

export type Headers = Record<string, string | string[]>;

/** The app port a meshed request is for; honoured by the inbound proxy only over mTLS. */
export const DST_PORT_HEADER = "trellis-dst-port";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
  "http2-settings",
  DST_PORT_HEADER,
]);

/**
 * The end-to-end headers of a request or response: no pseudo headers, no hop-by-hop headers (nor
 * those the Connection header names), no mesh headers. `te: trailers` survives: gRPC needs it.
 */
export function endToEnd(headers: IncomingHttpHeaders | Headers): Headers {
  const out: Headers = {};
  const connection = headers.connection;
  const named =
    typeof connection === "string" && connection !== "keep-alive" && connection !== "close"
      ? new Set(connection.split(",").map((s) => s.trim().toLowerCase()))
      : undefined;
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined || key.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(key)) {
      if (key === "te" && value === "trailers") out.te = value;
      continue;
    }
    if (named?.has(key)) continue;
    out[key] = value as string | string[];
  }
  return out;
}

/**
 * The fields of an HTTP/1.x head that the relay acts on: the hop-by-hop ones, and `expect` (which
 * also stays among the end-to-end headers). Every object has all of them, so it keeps one shape.
 */
export interface HopFields {
  host: string | undefined;
  /** Every Transfer-Encoding field line's value, joined with ", ". */
  transferEncoding: string | undefined;
  dstPort: string | undefined;
  expect: string | undefined;
}

/**
 * `endToEnd` for an HTTP/1.x head as parsed (names and values alternating), in one pass: the
 * end-to-end headers keyed by lowercase name (repeated fields become arrays), and the hop-by-hop
 * fields the relay needs.
 */
export function splitHeaders(raw: string[]): { headers: Headers; hop: HopFields } {
  const headers: Headers = {};
  const hop: HopFields = {
    host: undefined,
    transferEncoding: undefined,
    dstPort: undefined,
    expect: undefined,
  };
  let named: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (key === "expect") hop.expect ??= value;
    else if (HOP_BY_HOP.has(key)) {
      if (key === "host") hop.host ??= value;
      else if (key === "transfer-encoding")
        hop.transferEncoding =
          hop.transferEncoding === undefined ? value : `${hop.transferEncoding}, ${value}`;
      else if (key === DST_PORT_HEADER) hop.dstPort ??= value;
      else if (key === "connection") named = named === undefined ? value : `${named},${value}`;
      else if (key === "te" && value === "trailers") headers.te = value;
      continue;
    }
    const prev = headers[key];
    if (prev === undefined) headers[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[key] = [prev, value];
  }
  // "keep-alive" and "close", the usual values, name no other field. Content-Length is how the
  // message was framed, and the relay frames the body it forwards by it: naming it drops nothing.
  if (named !== undefined && named !== "keep-alive" && named !== "close") {
    for (const token of named.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "keep-alive" && name !== "close" && name !== "content-length") delete headers[name];
    }
  }
  return { headers, hop };
}

/**
 * Writes an HTTP/1.x Content-Length without leading zeros. llhttp took it as digits only; passed on as
 * the plain number, no peer can read it another way.
 */
export function plainLength(headers: Headers): void {
  const length = headers["content-length"];
  if (typeof length === "string" && length.length > 1 && length.startsWith("0"))
    headers["content-length"] = length.replace(/^0+(?=\d)/, "");
}

/** Trailers as received, minus anything hop-by-hop; undefined when there are none. */
export function trailersOf(trailers: IncomingHttpHeaders | Headers | undefined): Headers | undefined {
  if (!trailers) return undefined;
  const out = endToEnd(trailers);
  for (const _ in out) return out;
  return undefined;
}

/**
 * A header list's size as HTTP/2 counts it for SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2): each
 * field's name and value plus 32. nghttp2 applies the limit only once the client acknowledged the
 * setting, so a request sent before that must be measured here.
 */
export function headerListBytes(headers: IncomingHttpHeaders): number {
  let size = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) size += name.length + String(v).length + 32;
  }
  return size;
}

export function isGrpc(headers: IncomingHttpHeaders | Headers): boolean {
  const type = headers["content-type"];
  return typeof type === "string" && type.startsWith("application/grpc");
}

export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
