/**
 * The far side of an exchange: an HTTP/2 client session (to a peer proxy over mTLS, or to an h2c
 * app) or an HTTP/1.1 keep-alive agent (to an HTTP/1.1 app or an unmeshed endpoint).
 */
import http, { type Agent } from "node:http";
import http2, { type ClientHttp2Session } from "node:http2";
import { connectError, ProxyError } from "../errors.js";
import type { ProxyRequest, Upstream, UpstreamCallback } from "./exchange.js";
import { endToEnd, type Headers, trailersOf } from "./headers.js";

const { NGHTTP2_CANCEL } = http2.constants;
const END_STREAM = 0x1;

/** Gets a ready session (possibly connecting first) or the reason there is none. */
export type SessionSource = (cb: (err: ProxyError | undefined, session?: ClientHttp2Session) => void) => void;

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
    source((err, session) => {
      if (cancelled) return;
      if (err || !session) return cb(err ?? new ProxyError("TRELLIS_E_PROXY_CONNECT", target));
      cancelStream = requestOn(session, req, extra(req), target, cb);
    });
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
  try {
    stream = session.request(headers, { endStream: !req.body });
  } catch (err) {
    cb(new ProxyError("TRELLIS_E_PROXY_UPSTREAM_RESET", `${target}: ${(err as Error).message}`));
    return () => {};
  }
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
    cb(new ProxyError("TRELLIS_E_PROXY_UPSTREAM_RESET", `${target}: ${detail}`));
  };
  stream.once("error", (err) => failBeforeHead(err.message));
  stream.once("close", () => failBeforeHead(`stream closed (code ${stream.rstCode})`));
  return () => {
    if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
  };
}

/**
 * Requests over HTTP/1.1 to `host:port` with a keep-alive agent; `extra` headers added to each. A
 * request without a body that fails on a reused connection before any answer (the server closed
 * it while idle) is sent once more on a fresh one: it cannot have been processed.
 */
export function http1Upstream(agent: Agent, host: string, port: number, extra?: Headers): Upstream {
  const target = `${host}:${port}`;
  return (req, cb) => {
    let answered = false;
    let outgoing: http.ClientRequest;
    const send = (retry: boolean) => {
      outgoing = http.request({
        agent,
        host,
        port,
        method: req.method,
        path: req.path,
        headers: extra
          ? { ...req.headers, ...extra, host: req.authority }
          : { ...req.headers, host: req.authority },
        setHost: false,
      });
      outgoing.once("response", (res) => {
        answered = true;
        cb(undefined, {
          status: res.statusCode ?? 502,
          headers: endToEnd(res.headers),
          body: res,
          endStream: false,
          // HTTP/1.1 trailers exist only after a chunked body.
          mayHaveTrailers: res.headers["content-length"] === undefined,
          trailers: () => trailersOf(res.trailers),
        });
      });
      outgoing.once("error", (err) => {
        if (answered) return;
        if (retry && !req.body && outgoing.reusedSocket) {
          send(false);
          return;
        }
        answered = true;
        cb(connectError(err, target));
      });
      if (req.body) req.body.pipe(outgoing);
      else outgoing.end();
    };
    send(true);
    return () => {
      outgoing.destroy();
    };
  };
}
