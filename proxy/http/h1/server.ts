/**
 * The HTTP/1.x server side of the relay: parses requests from a client connection with llhttp and
 * answers each as a Downstream, writing response heads and bodies straight to the socket. One
 * request is answered at a time, in order (pipelined requests wait their turn). A malformed or
 * oversized head gets 400/431 and the connection closes; a head that does not arrive within the
 * headers timeout gets 408; an idle keep-alive connection closes after the keep-alive timeout.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { type Duplex, Readable } from "node:stream";
import { PROXY_ERROR_HEADER, type ProxyError } from "../../errors.js";
import type { Downstream, ProxyRequest, UpstreamResponse } from "../exchange.js";
import { type Headers, type HopFields, splitHeaders } from "../headers.js";
import { byteLength, lastChunk, pumpBody, withBody, writeChunk } from "./body.js";
import { Http1Parser, headerLines, type MessageHead, type ParseError, UPGRADE } from "./parser.js";

/** An Upgrade request: the connection leaves HTTP after this head. */
export interface UpgradeRequest {
  method: string;
  url: string;
  versionMinor: number;
  rawHeaders: string[];
  /** The Host header. */
  authority: string;
}

export interface Http1ServerOptions {
  maxHeaderBytes: number;
  /** Time for a request head to arrive once its first byte did. */
  headersTimeoutMs: number;
  /** An idle connection between requests is closed after this. */
  keepAliveTimeoutMs: number;
  /** `hop` holds the request's hop-by-hop fields (the mesh's own among them). */
  onRequest(down: Downstream, socket: Socket, hop: HopFields): void;
  /** Takes the socket over (with any bytes after the head); without it, upgrades are refused. */
  onUpgrade?(req: UpgradeRequest, socket: Duplex, rest: Buffer): void;
}

const ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
};

export class Http1Server {
  private readonly conns = new Set<ServerConn>();
  private readonly sweep: NodeJS.Timeout;
  /** Set while the proxy drains: every response closes its connection. */
  draining = false;

  constructor(readonly options: Http1ServerOptions) {
    this.sweep = setInterval(() => this.expireHeads(), Math.min(1000, options.headersTimeoutMs));
    this.sweep.unref();
  }

  /** Serves a connection; `head` holds bytes already read from it (protocol detection). */
  accept(socket: Socket, head?: Buffer): void {
    const conn = new ServerConn(this, socket);
    this.conns.add(conn);
    socket.once("close", () => {
      this.conns.delete(conn);
      conn.closed();
    });
    if (head && head.length > 0) conn.onData(head);
  }

  /** Closes connections with no request in flight. */
  closeIdle(): void {
    for (const conn of this.conns) if (conn.idle) conn.socket.destroy();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  get size(): number {
    return this.conns.size;
  }

  private expireHeads(): void {
    const now = Date.now();
    for (const conn of this.conns) {
      if (conn.headStartedAt > 0 && now - conn.headStartedAt > this.options.headersTimeoutMs)
        conn.refuse(408);
    }
  }
}

class ServerConn {
  readonly parser: Http1Parser;
  /** Exchanges whose response is not complete, in arrival order; the first is being answered. */
  readonly queue: Exchange[] = [];
  /** The exchange whose request message is being parsed. */
  private parsing: Exchange | undefined;
  headStartedAt = 0;
  private upgrade: UpgradeRequest | undefined;
  private starting: Exchange | undefined;
  private ended = false;

  private readonly onSocketData = (d: Buffer) => this.onData(d);
  private readonly onSocketEnd = () => {
    const err = this.parser.finish();
    if (err) this.parseFailed(err);
    // The client is done sending (a half-close): answer what it asked, then end the connection.
    else if (this.queue.length === 0) this.close();
    else this.peerEnded = true;
  };
  private peerEnded = false;
  private readonly onSocketTimeout = () => {
    if (this.idle) this.socket.destroy();
  };

  constructor(
    readonly server: Http1Server,
    readonly socket: Socket,
  ) {
    this.parser = new Http1Parser("request", server.options.maxHeaderBytes, {
      begin: () => {
        this.headStartedAt = Date.now();
      },
      head: (head) => this.onHead(head),
      body: (chunk) => this.parsing?.pushBody(chunk),
      end: () => {
        const ex = this.parsing;
        this.parsing = undefined;
        ex?.endBody();
      },
    });
    socket.on("data", this.onSocketData);
    socket.on("end", this.onSocketEnd);
    socket.on("error", () => {});
    socket.setTimeout(server.options.keepAliveTimeoutMs);
    socket.on("timeout", this.onSocketTimeout);
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.headStartedAt === 0;
  }

  onData(d: Buffer): void {
    if (this.ended) return;
    let ret: number | ParseError;
    try {
      ret = this.parser.execute(d);
    } catch (err) {
      // A handler threw while the parser called it: the connection's state is unknown.
      this.socket.destroy(err as Error);
      return;
    }
    if (ret instanceof Error) {
      this.parseFailed(ret);
      return;
    }
    const starting = this.starting;
    if (starting) {
      this.starting = undefined;
      starting.start();
    }
    if (this.upgrade) {
      const req = this.upgrade;
      const onUpgrade = this.server.options.onUpgrade;
      this.detach();
      // The socket is handed over paused: its new owner reads it from here.
      this.socket.pause();
      if (!onUpgrade || this.queue.length > 0) {
        this.socket.destroy();
        return;
      }
      onUpgrade(req, this.socket, d.subarray(ret));
    }
  }

  private onHead(head: MessageHead): number {
    this.headStartedAt = 0;
    const { headers, hop } = splitHeaders(head.rawHeaders);
    if (head.upgrade) {
      this.upgrade = {
        method: head.method,
        url: head.url,
        versionMinor: head.versionMinor,
        rawHeaders: head.rawHeaders,
        authority: hop.host ?? "",
      };
      return UPGRADE;
    }
    const ex = new Exchange(this, head, headers, hop);
    if (ex.body) this.parsing = ex;
    this.queue.push(ex);
    // Started once the bytes at hand are parsed, so the body they hold is there to send with the head.
    if (this.queue.length === 1) this.starting = ex;
    // A pipelined request waits for the one before it: read no further until its turn.
    else this.socket.pause();
    return 0;
  }

  /** The exchange at the head of the queue answered; start the next one. */
  next(ex: Exchange, keepAlive: boolean): void {
    if (this.queue[0] === ex) this.queue.shift();
    if (!keepAlive || (this.peerEnded && this.queue.length === 0)) {
      this.close();
      return;
    }
    if (ex.body && !ex.bodyComplete) ex.discardBody();
    const following = this.queue[0];
    if (following) following.start();
    if (!this.ended) this.socket.resume();
  }

  /** Answers a protocol failure (when no response is under way) and closes the connection. */
  refuse(status: number): void {
    if (this.ended) return;
    // With a request in flight, an error response would read as its answer: close instead.
    const answering = this.queue.length > 0;
    this.detach();
    if (answering) {
      this.socket.destroy();
      return;
    }
    this.socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
    this.destroySoon();
  }

  private parseFailed(err: ParseError): void {
    this.refuse(ERROR_STATUS[err.code] ?? 400);
  }

  /** Ends the connection once what is written has been sent. */
  close(): void {
    if (this.ended) return;
    this.detach();
    this.socket.end();
    this.destroySoon();
  }

  private destroySoon(): void {
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Stops parsing this connection. */
  private detach(): void {
    this.ended = true;
    this.headStartedAt = 0;
    this.socket.off("data", this.onSocketData);
    this.socket.off("end", this.onSocketEnd);
    this.socket.off("timeout", this.onSocketTimeout);
    this.socket.setTimeout(0);
  }

  /** The connection is gone: every exchange still under way is aborted. */
  closed(): void {
    this.ended = true;
    this.headStartedAt = 0;
    const pending = this.queue.splice(0);
    for (const ex of pending) ex.aborted();
    this.parsing?.abortBody();
    this.parsing = undefined;
    this.parser.close();
  }
}

/** A request body: fed by the parser, read by the upstream; reading resumes the socket. */
class RequestBody extends Readable {
  constructor(private readonly socket: Socket) {
    super();
  }
  override _read(): void {
    this.socket.resume();
  }
}

class Exchange implements Downstream {
  readonly req: ProxyRequest;
  readonly body: RequestBody | undefined;
  bodyComplete = false;
  private discarding = false;
  headSent = false;
  private done = false;
  private abortCb: (() => void) | undefined;
  private readonly keepAlive: boolean;
  private readonly http10: boolean;
  private readonly method: string;

  constructor(
    private readonly conn: ServerConn,
    head: MessageHead,
    headers: Headers,
    private readonly hop: HopFields,
  ) {
    this.method = head.method;
    this.keepAlive = head.keepAlive;
    this.http10 = head.versionMinor === 0;
    let authority = hop.host ?? "";
    let path = head.url;
    if (path.startsWith("http://")) {
      try {
        const url = new URL(path);
        authority = url.host;
        path = `${url.pathname}${url.search}`;
      } catch {
        // Left as sent: routing answers 400 for what it cannot use.
      }
    }
    // RFC 9112 §6.3: a request has a body when it says how long it is.
    const length = headers["content-length"];
    const hasBody = hop.transferEncoding !== undefined || (length !== undefined && length !== "0");
    this.body = hasBody ? new RequestBody(conn.socket) : undefined;
    this.req = {
      method: head.method,
      authority,
      path,
      headers,
      body: this.body,
      http1: true,
    };
  }

  start(): void {
    const expect = this.req.headers.expect;
    // Like node:http, the proxy tells the client to go on sending the body itself.
    if (typeof expect === "string" && expect.toLowerCase() === "100-continue" && !this.http10)
      this.conn.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    this.conn.server.options.onRequest(this, this.conn.socket, this.hop);
  }

  pushBody(chunk: Buffer): void {
    if (this.discarding || !this.body) return;
    if (!this.body.push(chunk)) this.conn.socket.pause();
  }

  endBody(): void {
    this.bodyComplete = true;
    if (!this.discarding) this.body?.push(null);
  }

  /** The response went out before the request body was read: drop the rest of it. */
  discardBody(): void {
    this.discarding = true;
    this.body?.destroy();
  }

  abortBody(): void {
    if (!this.bodyComplete) this.body?.destroy(new Error("the client closed the connection"));
  }

  aborted(): void {
    if (this.done) return;
    this.done = true;
    this.abortCb?.();
  }

  respond(up: UpstreamResponse, done: (ok: boolean, trailers: Headers | undefined) => void): void {
    const socket = this.conn.socket;
    if (socket.destroyed || this.done) {
      up.body.destroy();
      done(false, undefined);
      return;
    }
    const status = up.status;
    const bodiless = this.method === "HEAD" || status === 204 || status === 304 || status < 200;
    const hasLength = up.headers["content-length"] !== undefined;
    // A body that arrived whole with the head goes out with it, framed by its length unless
    // trailers follow it.
    const complete = bodiless || up.endStream ? undefined : up.complete;
    const trailers = complete ? up.trailers() : undefined;
    const length = complete && !trailers && !hasLength ? byteLength(complete) : undefined;
    // How the body is delimited: by its length, by chunks (HTTP/1.1, so trailers can follow), or by
    // the end of the connection (an HTTP/1.0 client and no length).
    const unframed = !bodiless && !up.endStream && !hasLength && length === undefined;
    const chunked = unframed && !this.http10;
    const byClose = unframed && this.http10;
    const keepAlive = this.keepAlive && !byClose && !this.conn.server.draining;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${headerLines(up.headers)}`;
    if (chunked) head += "transfer-encoding: chunked\r\n";
    else if (length !== undefined) head += `content-length: ${length}\r\n`;
    else if (up.endStream && !bodiless && !hasLength) head += "content-length: 0\r\n";
    if (!keepAlive) head += "connection: close\r\n";
    else if (this.http10) head += "connection: keep-alive\r\n";
    head += "\r\n";
    this.headSent = true;
    if (up.endStream || bodiless) {
      socket.write(head, "latin1");
      if (!up.endStream) up.body.resume();
      this.finish(true, keepAlive);
      done(true, undefined);
      return;
    }
    if (complete && !chunked) {
      // One buffer, one write: the cheapest way through the socket for the usual small response.
      socket.write(withBody(head, complete));
      this.finish(true, keepAlive);
      done(true, trailers);
      return;
    }
    // The head and whatever of the body is already here leave in one write.
    socket.cork();
    socket.write(head, "latin1");
    if (complete) {
      for (const chunk of complete) writeChunk(socket, chunk, chunked);
      if (chunked) socket.write(lastChunk(trailers), "latin1");
      socket.uncork();
      this.finish(true, keepAlive);
      done(true, trailers);
      return;
    }
    pumpBody(up.body, socket, chunked, {
      ended: () => {
        const trailers = up.trailers();
        if (chunked) socket.write(lastChunk(trailers), "latin1");
        this.finish(true, keepAlive);
        done(true, trailers);
      },
      cut: () => {
        socket.destroy();
        done(false, undefined);
      },
    });
    socket.uncork();
  }

  fail(err: ProxyError): void {
    if (this.done) return;
    if (this.headSent) {
      this.conn.socket.destroy();
      return;
    }
    const body = `${err.message}\n`;
    const keepAlive = this.keepAlive && !this.conn.server.draining;
    const head =
      `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ""}\r\n` +
      headerLines({ [PROXY_ERROR_HEADER]: err.message }) +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      (keepAlive ? (this.http10 ? "connection: keep-alive\r\n" : "") : "connection: close\r\n");
    this.headSent = true;
    const socket = this.conn.socket;
    socket.cork();
    socket.write(`${head}\r\n`, "latin1");
    if (this.method !== "HEAD") socket.write(body);
    socket.uncork();
    this.finish(false, keepAlive);
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }

  private finish(_ok: boolean, keepAlive: boolean): void {
    if (this.done) return;
    this.done = true;
    this.conn.next(this, keepAlive);
  }
}
