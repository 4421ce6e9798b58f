/**
 * The client's side of an exchange for HTTP/2: a server stream seen as a Downstream (HTTP/1.x
 * clients are served by the relay in h1/server.ts). Errors the proxy answers for are written by
 * error-response.ts (a gRPC status for gRPC clients).
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { logger } from "../../lib/log.js";
import type { ProxyError } from "../errors.js";
import { resetStream, watchStall } from "./abuse.js";
import { respondHttp2Error } from "./error-response.js";
import type { Downstream, ProxyRequest, UpstreamResponse } from "./exchange.js";
import { endToEnd, type Headers, isGrpc, trailersOf } from "./headers.js";

const log = logger("http2");
const { NGHTTP2_INTERNAL_ERROR } = http2.constants;
const END_STREAM = 0x1;

/** An HTTP/2 request stream from an `http2` server session. */
export function http2Downstream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
): Downstream {
  // A session ending in an error (an abusive client cut off by nghttp2) destroys its open streams with
  // that error: without a listener it would be an uncaught exception. The exchange learns of the end
  // from 'close' (onAbort).
  stream.on("error", (err) => log.debug({ err: err.message }, "request stream error"));
  const hasBody = (flags & END_STREAM) === 0;
  let requestTrailers: Headers | undefined;
  // Trailers arrive before the body's end, so they are known by the time the upstream needs them.
  if (hasBody) stream.once("trailers", (t) => (requestTrailers = trailersOf(t)));
  const request: ProxyRequest = {
    method: (headers[":method"] as string | undefined) ?? "GET",
    authority: (headers[":authority"] as string | undefined) ?? (headers.host as string | undefined) ?? "",
    path: (headers[":path"] as string | undefined) ?? "/",
    headers: endToEnd(headers),
    body: hasBody ? stream : undefined,
    http1: false,
    trailers: () => requestTrailers,
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
      watchStall(stream, up.body);
      up.body.once("end", () => {
        ended = true;
        done(true, up.trailers());
      });
      up.body.once("close", () => {
        if (ended) return;
        if (!stream.destroyed) resetStream(stream, NGHTTP2_INTERNAL_ERROR);
        done(false, undefined);
      });
    },
    fail(err: ProxyError) {
      if (stream.destroyed) return;
      if (stream.headersSent) {
        resetStream(stream, NGHTTP2_INTERNAL_ERROR);
        return;
      }
      respondHttp2Error(stream, err, grpc);
    },
    onAbort(cb) {
      // The exchange ignores this once the response is complete.
      stream.once("close", cb);
    },
  };
}
