/**
 * One request on a pooled connection of the HTTP/1.x relay: its head written in one piece, its body
 * streamed; the response parsed and handed on as an UpstreamResponse, whole when it arrived with its
 * head, else as a stream read straight off the connection.
 */
import { Readable } from "node:stream";
import { connectError, ProxyError } from "../../errors.js";
import type { ProxyRequest, UpstreamResponse } from "../exchange.js";
import { type Headers, plainLength, splitHeaders, trailersOf } from "../headers.js";
import { lastChunk, pumpBody, SocketBody } from "./body.js";
import type { Conn } from "./conn.js";
import { headerLines, type MessageHead, REFUSE, SKIP_BODY } from "./parser.js";

/** What an exchange needs of the pooled connection it is sent on (client.ts's ClientConn). */
export interface ClientExchangeConn {
  readonly socket: Conn;
  /** Whether the connection carried an exchange before this one. */
  readonly reused: boolean;
  /** The connection was established. */
  readonly connected: boolean;
  /** The bytes being parsed, which the next read overwrites. */
  readonly parsing: Buffer | undefined;
  /** Names the endpoint in errors. */
  readonly target: string;
  /** A response head parsed: handed to `ex.deliver` once the parser returns. */
  answered(ex: ClientExchange, res: UpstreamResponse): void;
  /** The exchange is over; the connection carries the next one if `reusable`. */
  done(ex: ClientExchange, reusable: boolean): void;
}

/** A body that is already complete, as a stream for consumers that want one. */
function bufferedBody(chunks: Buffer[]): Readable {
  const body = new Readable({ read() {} });
  for (const chunk of chunks) body.push(chunk);
  body.push(null);
  return body;
}

/**
 * A response as the relay hands it on. When the whole body came with the head, `complete` holds it
 * and the `body` stream is made only if someone reads it (a class with a getter keeps every response
 * the same shape, where a property defined per object would not).
 */
class Http1Response implements UpstreamResponse {
  complete: Buffer[] | undefined;
  private stream: Readable | undefined;

  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly endStream: boolean,
    readonly mayHaveTrailers: boolean,
    private readonly exchange: ClientExchange,
  ) {}

  get body(): Readable {
    this.stream ??= bufferedBody(this.complete ?? []);
    return this.stream;
  }

  set body(stream: Readable) {
    this.stream = stream;
  }

  trailers(): Headers | undefined {
    return this.exchange.trailers;
  }
}

type ExchangeCallback = (
  err: ProxyError | undefined,
  res: UpstreamResponse | undefined,
  retryable: boolean,
) => void;

export class ClientExchange {
  private answered = false;
  private finished = false;
  private requestWritten: boolean;
  private responseComplete = false;
  private keepAlive = false;
  private response: SocketBody | undefined;
  /** Body chunks parsed before the head was handed on. */
  private early: Buffer[] | undefined;
  /** The response's trailers, once its body has ended. */
  trailers: Headers | undefined;
  private readonly reused: boolean;
  /** Bytes of the response arrived, even if not yet a whole head. */
  private heard = false;

  constructor(
    private readonly conn: ClientExchangeConn,
    private readonly req: ProxyRequest,
    private readonly extraLines: string,
    private readonly cb: ExchangeCallback,
  ) {
    this.requestWritten = !req.body;
    this.reused = conn.reused;
  }

  write(): void {
    const { req, conn } = this;
    const socket = conn.socket;
    const chunked = req.body !== undefined && req.headers["content-length"] === undefined;
    const head =
      `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n` +
      headerLines(req.headers) +
      this.extraLines +
      (chunked ? "transfer-encoding: chunked\r\n\r\n" : "\r\n");
    const body = req.body;
    if (!body) {
      socket.write(head, "latin1");
      return;
    }
    socket.cork();
    socket.write(head, "latin1");
    pumpBody(body, socket, chunked, {
      ended: () => {
        if (this.finished) return;
        if (chunked) socket.write(lastChunk(undefined), "latin1");
        this.requestWritten = true;
        if (this.responseComplete) this.settle();
      },
      // A body cut short leaves the endpoint waiting for the rest: this connection cannot go on.
      cut: () => {
        if (!this.finished) socket.destroy();
      },
    });
    socket.uncork();
  }

  head(head: MessageHead): number {
    const status = head.status;
    if (status < 200 && status !== 101) return SKIP_BODY; // 100 Continue and other interim answers
    // The parser stops here (REFUSE): a response after this one in the same read must not be
    // taken for the answer.
    if (this.answered || status === 101) {
      this.conn.socket.destroy();
      return REFUSE;
    }
    const { headers, hop } = splitHeaders(head.rawHeaders);
    // The relay re-frames the body: a coding besides chunked would be dropped on the way, and chunked
    // on HTTP/1.0 is faulty framing (RFC 9112 §6.1).
    const te = hop.transferEncoding;
    if (te !== undefined && (head.versionMinor === 0 || te.toLowerCase() !== "chunked")) {
      this.conn.socket.destroy(
        new Error(`malformed response: Transfer-Encoding: ${te} on HTTP/1.${head.versionMinor}`),
      );
      return REFUSE;
    }
    plainLength(headers);
    this.answered = true;
    this.keepAlive = head.keepAlive;
    const bodiless = this.req.method === "HEAD" || status === 204 || status === 304;
    // Handed on once the bytes at hand are parsed (the body they hold is kept until then), so a
    // response that arrived whole goes on as buffers, without a stream.
    this.early = [];
    // HTTP/1.1 trailers exist only after a chunked body.
    const mayHaveTrailers = !bodiless && headers["content-length"] === undefined;
    this.conn.answered(this, new Http1Response(status, headers, bodiless, mayHaveTrailers, this));
    return bodiless ? SKIP_BODY : 0;
  }

  /** Bytes for this exchange's response arrived, before the parser reads them. */
  heardFrom(): void {
    this.heard = true;
  }

  /** Hands the parsed response head on, with the whole body when it is already here. */
  deliver(res: UpstreamResponse): void {
    const early = this.early ?? [];
    this.early = undefined;
    if (this.responseComplete) res.complete = early;
    else {
      const response = new SocketBody(this.conn.socket);
      for (const chunk of early) response.push(chunk);
      this.response = response;
      res.body = response;
    }
    this.cb(undefined, res, false);
  }

  /**
   * A piece of the body. llhttp's binding hands over a copy (Node 20 to 24); a piece that is a view
   * of the bytes being parsed, which the next read overwrites, is copied before it is kept.
   */
  body(chunk: Buffer): void {
    const own = chunk.buffer === this.conn.parsing?.buffer ? Buffer.from(chunk) : chunk;
    if (this.early) this.early.push(own);
    else if (this.response && !this.response.push(own)) this.conn.socket.pause();
  }

  end(trailers: string[] | undefined): void {
    if (!this.answered) return; // the end of an interim response
    this.responseComplete = true;
    if (trailers) this.trailers = trailersOf(splitHeaders(trailers).headers);
    this.response?.push(null);
    // A response that came before the whole request was sent ends the connection's use.
    if (this.requestWritten) this.settle();
    else this.conn.done(this, false);
  }

  private settle(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.done(this, this.keepAlive);
  }

  /** The connection closed or failed while this exchange was on it. */
  lost(err: Error | undefined): void {
    if (this.finished && this.responseComplete) return;
    this.finished = true;
    if (!this.answered) {
      this.answered = true;
      const target = this.conn.target;
      // Only a reused connection that fails before any byte of an answer may be retried by the pool,
      // or a mux stream the peer refused outright (it was going away): neither can have been
      // processed. An endpoint that began answering read the request, whatever happened next.
      const refusal = (err as { refused?: unknown } | undefined)?.refused === true;
      const refused = refusal && !this.heard;
      const retryable = !this.heard && (this.reused || refused);
      if (!this.conn.connected)
        this.cb(connectError(err ?? new Error("connection closed"), target), undefined, retryable);
      else
        this.cb(
          new ProxyError(
            "TRELLIS_E_PROXY_UPSTREAM_RESET",
            `${target}: ${
              refusal && this.heard
                ? "the peer refused the stream after part of its answer: a reset, the request may have been processed"
                : (err?.message ?? "the connection closed before the response")
            }`,
            { unprocessed: refused },
          ),
          undefined,
          retryable,
        );
      return;
    }
    if (!this.responseComplete) this.response?.destroy(err ?? new Error("the response was cut short"));
  }

  /** The client went away: the connection is dropped mid-exchange. */
  cancel(): void {
    if (this.finished && this.responseComplete) return;
    this.finished = true;
    this.answered = true;
    this.conn.socket.destroy();
  }
}
