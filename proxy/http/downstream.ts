/**
 * The client's side of an exchange: an HTTP/1.1 request/response pair or an HTTP/2 server stream,
 * seen as a Downstream. Errors the proxy answers for carry `trellis-proxy-error`; gRPC clients get
 * a gRPC status (UNAVAILABLE) they understand instead of a bare HTTP error.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { PROXY_ERROR_HEADER, type ProxyError } from "../errors.js";
import type { Downstream, ProxyRequest, UpstreamResponse } from "./exchange.js";
import { endToEnd, isGrpc } from "./headers.js";

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;
const END_STREAM = 0x1;

/** Whether an HTTP/1.1 request carries a body (RFC 9112 §6.3). */
function http1HasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** An HTTP/1.1 request from `http.Server`; absolute-form targets (`GET http://host/path`) work too. */
export function http1Downstream(req: IncomingMessage, res: ServerResponse): Downstream {
  let authority = req.headers.host ?? "";
  let path = req.url ?? "/";
  if (path.startsWith("http://")) {
    try {
      const url = new URL(path);
      authority = url.host;
      path = `${url.pathname}${url.search}`;
    } catch {
      // Leave it: the authority check below answers 400.
    }
  }
  const request: ProxyRequest = {
    method: req.method ?? "GET",
    authority,
    path,
    headers: endToEnd(req.headers),
    body: http1HasBody(req) ? req : undefined,
    http1: true,
  };
  if (!request.body) req.resume();
  return {
    req: request,
    respond(up: UpstreamResponse, done) {
      res.writeHead(up.status, up.headers);
      if (up.endStream) {
        res.end();
        done(true, undefined);
        return;
      }
      let ended = false;
      up.body.on("data", (chunk: Buffer) => {
        if (!res.write(chunk)) {
          up.body.pause();
          res.once("drain", () => up.body.resume());
        }
      });
      up.body.once("end", () => {
        ended = true;
        const trailers = up.trailers();
        if (trailers) res.addTrailers(trailers);
        res.end();
        done(true, trailers);
      });
      up.body.once("close", () => {
        if (ended) return;
        res.destroy();
        done(false, undefined);
      });
    },
    fail(err: ProxyError) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = `${err.message}\n`;
      res.writeHead(err.status, {
        [PROXY_ERROR_HEADER]: err.message,
        "content-type": "text/plain; charset=utf-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    },
    onAbort(cb) {
      // The exchange ignores this once the response is complete.
      res.once("close", cb);
    },
  };
}

/** An HTTP/2 request stream from an `http2` server session. */
export function http2Downstream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  http1 = false,
): Downstream {
  const request: ProxyRequest = {
    method: (headers[":method"] as string | undefined) ?? "GET",
    authority: (headers[":authority"] as string | undefined) ?? (headers.host as string | undefined) ?? "",
    path: (headers[":path"] as string | undefined) ?? "/",
    headers: endToEnd(headers),
    body: flags & END_STREAM ? undefined : stream,
    http1,
  };
  const grpc = isGrpc(headers);
  return {
    req: request,
    respond(up: UpstreamResponse, done) {
      if (stream.destroyed) return done(false, undefined);
      const head: http2.OutgoingHttpHeaders = { ...up.headers, ":status": up.status };
      if (up.endStream) {
        stream.respond(head, { endStream: true });
        done(true, undefined);
        return;
      }
      // Trailers are only known at the end: wait for them. With none, an empty trailer block still
      // ends the stream with END_STREAM (closing it instead would reset it).
      stream.respond(head, { waitForTrailers: up.mayHaveTrailers });
      let ended = false;
      if (up.mayHaveTrailers) stream.once("wantTrailers", () => stream.sendTrailers(up.trailers() ?? {}));
      up.body.pipe(stream);
      up.body.once("end", () => {
        ended = true;
        done(true, up.trailers());
      });
      up.body.once("close", () => {
        if (ended) return;
        if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
        done(false, undefined);
      });
    },
    fail(err: ProxyError) {
      if (stream.destroyed) return;
      if (stream.headersSent) {
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (grpc) {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "14",
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
    },
    onAbort(cb) {
      // The exchange ignores this once the response is complete.
      stream.once("close", cb);
    },
  };
}
