/**
 * The far side of an exchange over HTTP/2: a client session to a peer proxy over mTLS, or to an h2c
 * app (HTTP/1.1 endpoints are reached through the relay's pools in h1/client.ts).
 */
import http2, { type ClientHttp2Session } from "node:http2";
import { ProxyError } from "../errors.js";
import type { ProxyRequest, Upstream, UpstreamCallback } from "./exchange.js";
import { endToEnd, type Headers, trailersOf } from "./headers.js";
import { countStream, type SessionSource } from "./sessions.js";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
const END_STREAM = 0x1;

/**
 * Requests over an HTTP/2 session. `extra` headers (the mesh's own) are added to each request;
 * `target` names the endpoint in errors.
 */
export function http2Upstream(
  source: SessionSource,
  target: string,
  extra: (req: ProxyRequest) => Headers,
): Upstream {
  return (req, cb) => {
    let cancelled = false;
    let cancelStream: (() => void) | undefined;
    const send = (again: boolean) =>
      source((err, session) => {
        if (cancelled) return;
        if (err || !session) return cb(err ?? new ProxyError("TRELLIS_E_PROXY_CONNECT", target));
        // A stream the server refused was never seen by its app (a request racing the server's idle
        // GOAWAY): sent again once, on the session that replaces one going away. Only without a body,
        // which the first attempt may have consumed.
        const refused = again || req.body ? undefined : () => send(true);
        cancelStream = requestOn(session, req, extra(req), target, cb, refused);
      });
    send(false);
    return () => {
      cancelled = true;
      cancelStream?.();
    };
  };
}

function requestOn(
  session: ClientHttp2Session,
  req: ProxyRequest,
  extra: Headers,
  target: string,
  cb: UpstreamCallback,
  refused?: () => void,
): () => void {
  let answered = false;
  let trailers: Headers | undefined;
  const headers = {
    ...req.headers,
    ...extra,
    ":method": req.method,
    ":authority": req.authority,
    ":path": req.path,
    ":scheme": "http",
  };
  let stream: http2.ClientHttp2Stream;
  // A request with a body may end in trailers, known only once the body has ended: wait for them.
  // With none, an empty trailer block ends the stream as END_STREAM on the data would.
  const requestTrailers = req.body ? req.trailers : undefined;
  try {
    stream = session.request(headers, {
      endStream: !req.body,
      waitForTrailers: requestTrailers !== undefined,
    });
  } catch (err) {
    cb(new ProxyError("TRELLIS_E_PROXY_UPSTREAM_RESET", `${target}: ${(err as Error).message}`));
    return () => {};
  }
  countStream(session, stream);
  if (requestTrailers) stream.once("wantTrailers", () => stream.sendTrailers(requestTrailers() ?? {}));
  if (req.body) req.body.pipe(stream);
  stream.once("response", (head, flags) => {
    answered = true;
    cb(undefined, {
      status: Number(head[":status"]),
      headers: endToEnd(head),
      body: stream,
      endStream: (flags & END_STREAM) !== 0,
      mayHaveTrailers: true,
      trailers: () => trailers,
    });
  });
  stream.once("trailers", (t) => {
    trailers = trailersOf(t);
  });
  const failBeforeHead = (detail: string) => {
    if (answered) return;
    answered = true;
    const unprocessed = stream.rstCode === NGHTTP2_REFUSED_STREAM;
    if (refused && unprocessed) refused();
    else cb(new ProxyError("TRELLIS_E_PROXY_UPSTREAM_RESET", `${target}: ${detail}`, { unprocessed }));
  };
  stream.on("error", (err) => failBeforeHead(err.message));
  stream.once("close", () => failBeforeHead(`stream closed (code ${stream.rstCode})`));
  return () => {
    if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
  };
}
