/**
 * One HTTP request crossing the proxy, independent of the protocols on either side: a Downstream
 * (the client's side, HTTP/1.1 or HTTP/2 server) and an Upstream (the peer proxy or app, HTTP/1.1
 * or HTTP/2 client). Bodies stream through with backpressure, never buffered; trailers follow the
 * body; a failure before the response head becomes a proxy error response, after it a reset.
 */
import type { Readable } from "node:stream";
import { ProxyError } from "../errors.js";
import type { RequestRecorder } from "../metrics/index.js";
import { first, type Headers } from "./headers.js";

export interface ProxyRequest {
  method: string;
  /** `host:port` or `host` as the client sent it. */
  authority: string;
  path: string;
  /** End-to-end headers only. */
  headers: Headers;
  /** The request body, or undefined when the request has none. */
  body: Readable | undefined;
  /** The client spoke HTTP/1.1 (carried to the peer proxy so the app gets HTTP/1.1 back). */
  http1: boolean;
  /** The request's trailers, once its body has ended (HTTP/2 requests may carry them). */
  trailers?: () => Headers | undefined;
}

export interface UpstreamResponse {
  status: number;
  /** End-to-end headers only. */
  headers: Headers;
  /** Ends when the response ends. */
  body: Readable;
  /** The whole body, when it arrived with the head (then `body` need not be read). */
  complete?: Buffer[];
  /** The response is complete with its head (HTTP/2 END_STREAM on the headers, e.g. gRPC trailers-only). */
  endStream: boolean;
  /** Whether trailers may follow the body (HTTP/2, or chunked HTTP/1.1); false lets HTTP/2 end with the data. */
  mayHaveTrailers: boolean;
  /** The trailers, once the body has ended; undefined when there were none. */
  trailers(): Headers | undefined;
}

export type UpstreamCallback = (err: ProxyError | undefined, res?: UpstreamResponse) => void;

/** Sends a request upstream; the callback gets the response head or the failure. Returns cancel. */
export type Upstream = (req: ProxyRequest, cb: UpstreamCallback) => () => void;

export interface Downstream {
  readonly req: ProxyRequest;
  /** Writes the response head, streams the body, then trailers; `done(ok, trailers)` at the end. */
  respond(res: UpstreamResponse, done: (ok: boolean, trailers: Headers | undefined) => void): void;
  /** Answers with the proxy's own error (or resets, if the head is already out). */
  fail(err: ProxyError): void;
  /** Called if the client goes away before the response is complete. */
  onAbort(cb: () => void): void;
}

/** Answers with the proxy's own error, recorded as a failed request. */
export function refuse(down: Downstream, rec: RequestRecorder, err: ProxyError): void {
  rec.firstByte(err.status);
  rec.end({ status: err.status, failed: true });
  down.fail(err);
}

/** Runs one exchange and records it in the metrics. */
export function exchange(down: Downstream, upstream: Upstream, rec: RequestRecorder): void {
  let done = false;
  const cancel = upstream(down.req, (err, res) => {
    if (err || !res) {
      done = true;
      refuse(down, rec, err ?? new ProxyError("TRELLIS_E_PROXY_UPSTREAM_RESET"));
      return;
    }
    rec.firstByte(res.status);
    down.respond(res, (ok, trailers) => {
      // Already recorded when the client went away first.
      if (done) return;
      done = true;
      const grpcStatus = first(trailers?.["grpc-status"]) ?? first(res.headers["grpc-status"]);
      rec.end({ status: res.status, grpcStatus, failed: !ok });
    });
  });
  down.onAbort(() => {
    if (done) return;
    done = true;
    cancel();
    rec.end({ status: 0, failed: true });
  });
}

/** Bounds the time until the response head: past it the request is cancelled and answered 504. */
export function withTimeout(upstream: Upstream, timeoutMs: number, what: string): Upstream {
  return (req, cb) => {
    let settled = false;
    const cancel = upstream(req, (err, res) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cb(err, res);
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      cancel();
      cb(new ProxyError("TRELLIS_E_PROXY_ROUTE_TIMEOUT", `${what} after ${timeoutMs} ms`));
    }, timeoutMs);
    return () => {
      clearTimeout(timer);
      cancel();
    };
  };
}
