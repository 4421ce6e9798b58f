/**
 * The HTTP/1.x server side of the relay: parses requests from a client connection with llhttp and
 * answers each as a Downstream, writing response heads and bodies straight to the socket. One
 * request is answered at a time, in order (pipelined requests wait their turn). A malformed or
 * oversized head gets 400/431 and the connection closes; a head that does not arrive within the
 * headers timeout gets 408; an idle keep-alive connection closes after the keep-alive timeout.
 */

import type { Duplex } from "node:stream";
import { type CallbackReads, readInto, SplicedReads } from "../../transport/reads.js";
import type { Downstream } from "../exchange.js";
import { type HopFields, splitHeaders } from "../headers.js";
import { http } from "../node-http.js";
import type { Conn } from "./conn.js";
import { Http1Parser, type MessageHead, type ParseError, REFUSE, UPGRADE } from "./parser.js";
import { Exchange, type ServerExchangeConn } from "./server-exchange.js";

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
  /** The clock both deadlines are measured by, in ms since the epoch: `Date.now` unless a test drives it. */
  now?: () => number;
  /** A request head did not arrive within headersTimeoutMs: the connection is answered 408 and closed. */
  onHeadersTimeout?(): void;
  /** `hop` holds the request's hop-by-hop fields (the mesh's own among them). */
  onRequest(down: Downstream, conn: Conn, hop: HopFields): void;
  /**
   * Takes the socket over, with any bytes after the head, and its reads: they land in `reads`,
   * which hold what comes until the new owner takes them (`into`). Without it, upgrades are refused.
   */
  onUpgrade?(req: UpgradeRequest, socket: Duplex, rest: Buffer, reads: SplicedReads): void;
}

const ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
};

/**
 * Why a head llhttp accepted is refused all the same, as the status to answer: a request framed in a
 * way the relay cannot pass on as it was read. llhttp takes HTTP/0.9 and 2.0 request lines, codings
 * before `chunked` (which the relay would drop while it re-frames the body), and Transfer-Encoding on
 * HTTP/1.0, which RFC 9112 §6.1 calls faulty framing.
 */
function refusal(head: MessageHead, hop: HopFields): number | undefined {
  if (head.versionMajor !== 1) return 505;
  const te = hop.transferEncoding;
  if (te === undefined) return undefined;
  if (head.versionMinor === 0) return 400;
  return te.toLowerCase() === "chunked" ? undefined : 501;
}

export class Http1Server {
  private readonly conns = new Set<ServerConn>();
  private readonly sweep: NodeJS.Timeout;
  /** Set while the proxy drains: every response closes its connection. */
  draining = false;
  readonly now: () => number;

  constructor(readonly options: Http1ServerOptions) {
    this.now = options.now ?? Date.now;
    // Deadlines are checked by this sweep rather than by a timer per socket, which every read and write
    // would have to push back.
    const every = Math.min(1000, options.headersTimeoutMs, options.keepAliveTimeoutMs);
    this.sweep = setInterval(() => this.expire(), every);
    this.sweep.unref();
  }

  /** Serves a connection; `head` holds bytes already read from it (protocol detection). */
  accept(socket: Conn, head?: Buffer): void {
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

  private expire(): void {
    const now = this.now();
    for (const conn of this.conns) conn.expire(now);
  }
}

export class ServerConn implements ServerExchangeConn {
  readonly parser: Http1Parser;
  /** Exchanges whose response is not complete, in arrival order; the first is being answered. */
  readonly queue: Exchange[] = [];
  /** The exchange whose request message is being parsed. */
  private parsing: Exchange | undefined;
  headStartedAt = 0;
  /** No request has begun yet: the connection gets the headers timeout, not the keep-alive one, to send one. */
  private fresh = true;
  /** When the connection last became idle (opened, or its last response finished). */
  private idleSince: number;
  private upgrade: UpgradeRequest | undefined;
  private starting: Exchange | undefined;
  /** The status a head was refused with (see `refusal`). */
  private refused: number | undefined;
  private ended = false;

  /** The connection's reads: parsed as they land, held from an upgrade until its new owner takes them. */
  readonly reads = new SplicedReads();
  private readonly onSocketEnd = () => {
    const err = this.parser.finish();
    if (err) this.parseFailed(err);
    // The client is done sending (a half-close): answer what it asked, then end the connection.
    else if (this.queue.length === 0) this.close();
    else this.peerEnded = true;
  };
  private peerEnded = false;

  constructor(
    readonly server: Http1Server,
    readonly socket: Conn,
  ) {
    this.idleSince = server.now();
    this.parser = new Http1Parser("request", server.options.maxHeaderBytes, {
      begin: () => {
        this.headStartedAt = server.now();
        this.fresh = false;
      },
      head: (head) => this.onHead(head),
      body: (chunk) => this.parsing?.pushBody(chunk),
      end: () => {
        const ex = this.parsing;
        this.parsing = undefined;
        ex?.endBody();
      },
    });
    this.reads.sink = (bytes, buffer) => {
      this.onData(buffer.subarray(0, bytes));
      return true;
    };
    // A Conn is a socket or a mux stream.
    readInto(socket as Duplex | CallbackReads, this.reads);
    socket.on("end", this.onSocketEnd);
    socket.on("error", () => {});
  }

  /**
   * A head later than the headers timeout is answered 408, and a new connection that sends none
   * within it is closed (a peer that completed its TLS handshake and went quiet); an idle connection
   * past the keep-alive timeout closes.
   */
  expire(now: number): void {
    if (this.ended) return;
    const { headersTimeoutMs, keepAliveTimeoutMs, onHeadersTimeout } = this.server.options;
    if (this.headStartedAt > 0) {
      if (now - this.headStartedAt > headersTimeoutMs) {
        onHeadersTimeout?.();
        this.refuse(408);
      }
    } else if (this.queue.length === 0) {
      if (this.fresh && now - this.idleSince > headersTimeoutMs) {
        onHeadersTimeout?.();
        this.socket.destroy();
      } else if (now - this.idleSince > keepAliveTimeoutMs) this.socket.destroy();
    }
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.headStartedAt === 0;
  }

  /** Parses bytes read; `d` is valid only during this call. */
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
      // The socket is handed over paused, what it reads from here held for its new owner.
      this.reads.hold();
      this.socket.pause();
      if (!onUpgrade || this.queue.length > 0) {
        this.socket.destroy();
        return;
      }
      // Upgrades come only on sockets: between proxies they travel as opaque streams.
      onUpgrade(req, this.socket as unknown as Duplex, Buffer.from(d.subarray(ret)), this.reads);
    }
  }

  private onHead(head: MessageHead): number {
    this.headStartedAt = 0;
    const { headers, hop } = splitHeaders(head.rawHeaders);
    this.refused = refusal(head, hop);
    if (this.refused !== undefined) return REFUSE;
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
    if (this.queue.length === 0) this.idleSince = this.server.now();
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
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
    this.destroySoon();
  }

  private parseFailed(err: ParseError): void {
    this.refuse(this.refused ?? ERROR_STATUS[err.code] ?? 400);
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
    this.socket.off("end", this.onSocketEnd);
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
