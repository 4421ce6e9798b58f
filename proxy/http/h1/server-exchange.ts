/**
 * One request on a client connection of the HTTP/1.x relay, answered as a Downstream: the response
 * head is written with the body at hand in one write, then the rest streams, delimited by length, by
 * chunks (with trailers) or, for an HTTP/1.0 client, by the connection's end.
 */
import type { ProxyError } from "../../errors.js";
import { writeHttp1Error } from "../error-response.js";
import type { Downstream, ProxyRequest, UpstreamResponse } from "../exchange.js";
import { type Headers, type HopFields, plainLength } from "../headers.js";
import { http } from "../node-http.js";
import { byteLength, lastChunk, pumpBody, SocketBody, withBody, writeChunk } from "./body.js";
import type { Conn } from "./conn.js";
import { headerLines, type MessageHead } from "./parser.js";

/** What an exchange needs of the client connection it arrived on (server.ts's ServerConn). */
export interface ServerExchangeConn {
  readonly socket: Conn;
  readonly server: {
    /** Set while the proxy drains: every response closes its connection. */
    readonly draining: boolean;
    readonly options: {
      /** Handles the request; `hop` holds its hop-by-hop fields (the mesh's own among them). */
      onRequest(down: Downstream, conn: Conn, hop: HopFields): void;
    };
  };
  /** The exchange answered; the connection starts the next one, or closes unless `keepAlive`. */
  next(ex: Exchange, keepAlive: boolean): void;
}

export class Exchange implements Downstream {
  readonly req: ProxyRequest;
  readonly body: SocketBody | undefined;
  bodyComplete = false;
  private discarding = false;
  headSent = false;
  private done = false;
  private abortCb: (() => void) | undefined;
  private readonly keepAlive: boolean;
  private readonly http10: boolean;
  private readonly method: string;

  constructor(
    private readonly conn: ServerExchangeConn,
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
    plainLength(headers);
    const length = headers["content-length"];
    const hasBody = hop.transferEncoding !== undefined || (length !== undefined && length !== "0");
    this.body = hasBody ? new SocketBody(conn.socket) : undefined;
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
    const expect = this.hop.expect;
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
    let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n${headerLines(up.headers)}`;
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
    const keepAlive = this.keepAlive && !this.conn.server.draining;
    let connection = "";
    if (!keepAlive) connection = "connection: close\r\n";
    else if (this.http10) connection = "connection: keep-alive\r\n";
    this.headSent = true;
    writeHttp1Error(this.conn.socket, err, connection, this.method !== "HEAD");
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
