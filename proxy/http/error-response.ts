/**
 * The one place a ProxyError becomes an answer to the client: every response the proxy gives for
 * itself rather than the app names why in `trellis-proxy-error`, with the catalogue's HTTP status
 * (errors.ts). HTTP/1.x clients get a plain-text response (or, for an Upgrade the proxy cannot carry
 * out, a bare head before the connection closes); HTTP/2 clients get the same as HTTP/2, and gRPC
 * clients a trailers-only UNAVAILABLE they understand instead of a bare HTTP error.
 */
import type { ServerHttp2Stream } from "node:http2";
import type { ProxyError } from "../errors.js";
import type { Conn } from "./h1/conn.js";
import { headerLines } from "./h1/parser.js";
import { http } from "./node-http.js";

/** Response header naming why the proxy, not the app, answered. */
export const PROXY_ERROR_HEADER = "trellis-proxy-error";

/** gRPC's UNAVAILABLE: the proxy could not get the call to the service; clients may try again. */
const GRPC_UNAVAILABLE = "14";

/**
 * Writes the HTTP/1.1 answer to a request the proxy fails before any response head went out: head
 * and body (none when `withBody` is false, as for HEAD) leave in one write. `connection` is the
 * Connection header line the exchange needs (keep-alive for an HTTP/1.0 client, close), or "".
 */
export function writeHttp1Error(socket: Conn, err: ProxyError, connection: string, withBody: boolean): void {
  const body = `${err.message}\n`;
  const head =
    `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? ""}\r\n` +
    headerLines({ [PROXY_ERROR_HEADER]: err.message }) +
    `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    connection;
  socket.cork();
  socket.write(`${head}\r\n`, "latin1");
  if (withBody) socket.write(body);
  socket.uncork();
}

/**
 * The answer to an HTTP/1.1 Upgrade the proxy cannot carry out, written raw on the socket it would
 * have handed over; the connection closes after it.
 */
export function upgradeRefusal(err: ProxyError): string {
  return `HTTP/1.1 ${err.status} Proxy Error\r\n${PROXY_ERROR_HEADER}: ${err.message}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;
}

/** Answers an HTTP/2 request the proxy fails before any response head went out. */
export function respondHttp2Error(stream: ServerHttp2Stream, err: ProxyError, grpc: boolean): void {
  if (grpc) {
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": GRPC_UNAVAILABLE,
        "grpc-message": encodeURIComponent(err.message),
        [PROXY_ERROR_HEADER]: err.message,
      },
      { endStream: true },
    );
    return;
  }
  stream.respond({
    ":status": err.status,
    [PROXY_ERROR_HEADER]: err.message,
    "content-type": "text/plain; charset=utf-8",
  });
  stream.end(`${err.message}\n`);
}
