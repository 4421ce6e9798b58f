/**
 * The HTTP/1.1 relay's server side (proxy/http/h1/server.ts) driven the way the proxy drives it, on a
 * connection that delivers given reads: each read lands in one buffer the connection reuses (as a
 * socket reading into its own buffer), pausing and resuming is honoured, and the end of the input is
 * the client's FIN. What it reports is what the relay handed on: each request with its whole body,
 * an upgrade with the bytes after its head, and how the connection ended.
 */
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import type { Downstream } from "../../proxy/http/exchange.js";
import { Http1Server } from "../../proxy/http/h1/server.js";
import { type Headers, splitHeaders } from "../../proxy/http/headers.js";
import type { ReadInto } from "../../proxy/transport/reads.js";
import type { Request } from "./http1.js";

/** A request as the relay handed it to the proxy. */
export interface Handed {
  method: string;
  authority: string;
  path: string;
  headers: Headers;
  body: Buffer;
  /** The body arrived whole (or there was none). */
  complete: boolean;
}

export interface Served {
  /** The requests handed on whose bodies completed, in order. */
  requests: Handed[];
  /** An upgrade handed over: its method, target and the bytes read after its head. */
  upgrade?: { method: string; url: string; rest: Buffer };
  /** The status of the relay's own refusal (400, 413, 431…), when it wrote one. */
  refused?: number;
  /** The connection was cut without a response (a refusal while a request was in flight). */
  cut: boolean;
  /** An error the relay's own code threw while parsing (never expected). */
  thrown?: Error;
}

/** A Conn over given reads. */
class ScriptedConn extends EventEmitter {
  destroyed = false;
  private paused = false;
  private reads: ReadInto["callback"] | undefined;
  private readonly buffer = Buffer.alloc(16 * 1024);
  private ended = false;
  private finished = false;
  private pumping = false;
  constructor(
    private readonly pieces: Buffer[],
    private readonly done: (how: { refused?: number; error?: Error }) => void,
  ) {
    super();
  }
  /** What was never read: the reads still to come. */
  unread(): Buffer {
    return Buffer.concat(this.pieces.splice(0));
  }
  readInto(reads: Pick<ReadInto, "callback">): void {
    this.reads = reads.callback;
    process.nextTick(() => this.pump());
  }
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    while (!this.paused && !this.destroyed && !this.finished && this.reads && this.pieces.length > 0) {
      const piece = this.pieces.shift() as Buffer;
      for (let at = 0; at < piece.length && !this.destroyed && !this.finished; at += this.buffer.length) {
        const n = piece.copy(this.buffer, 0, at, at + this.buffer.length);
        if (this.reads(n, this.buffer) === false) this.paused = true;
        // The next read overwrites the buffer: whoever kept a view of it sees garbage.
        this.buffer.fill(0x23, 0, n);
      }
    }
    this.pumping = false;
    if (this.pieces.length === 0 && !this.paused && !this.ended && !this.destroyed && !this.finished) {
      this.ended = true;
      this.emit("end");
    }
  }
  write(_data: string | Uint8Array): boolean {
    return !this.destroyed;
  }
  end(data?: string | Uint8Array): this {
    if (this.finished || this.destroyed) return this;
    this.finished = true;
    const status = typeof data === "string" ? /^HTTP\/1\.1 (\d{3}) /.exec(data)?.[1] : undefined;
    this.done({ refused: status === undefined ? undefined : Number(status) });
    return this;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    process.nextTick(() => this.pump());
    return this;
  }
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.finished) this.done({ error: err });
    this.finished = true;
    process.nextTick(() => this.emit("close"));
    return this;
  }
}

const EMPTY_OK = {
  status: 200,
  headers: {},
  endStream: true,
  mayHaveTrailers: false,
  trailers: () => undefined,
};

/** Serves one connection that reads `pieces` then ends; resolves once the relay is done with it. */
export function serve(pieces: Buffer[], maxHeaderBytes = 16 * 1024): Promise<Served> {
  const served: Served = { requests: [], cut: false };
  return new Promise((resolve) => {
    const onRequest = (down: Downstream) => {
      const { req } = down;
      const handed: Handed = {
        method: req.method,
        authority: req.authority,
        path: req.path,
        headers: req.headers,
        body: Buffer.alloc(0),
        complete: false,
      };
      served.requests.push(handed);
      const answer = () => {
        handed.complete = true;
        down.respond({ ...EMPTY_OK, body: Readable.from([]) }, () => {});
      };
      const body = req.body;
      if (!body) return answer();
      const chunks: Buffer[] = [];
      body.on("data", (c: Buffer) => chunks.push(Buffer.from(c)));
      body.on("end", () => {
        handed.body = Buffer.concat(chunks);
        answer();
      });
    };
    const server = new Http1Server({
      maxHeaderBytes,
      headersTimeoutMs: 60_000,
      keepAliveTimeoutMs: 60_000,
      onRequest,
      onUpgrade: (req, socket, rest, reads) => {
        // The new owner gets the bytes after the head, then what the socket reads from there on.
        const after = Buffer.concat([rest, reads.keep(Buffer.alloc(0)), conn.unread()]);
        served.upgrade = { method: req.method, url: req.url, rest: after };
        socket.destroy();
      },
    });
    const conn = new ScriptedConn([...pieces], ({ refused, error }) => {
      served.refused = refused;
      if (error) served.thrown = error;
      else if (refused === undefined && !served.upgrade) served.cut = conn.destroyed;
      // Requests whose bodies never completed are not among those handed on whole.
      served.requests = served.requests.filter((r) => r.complete);
      server.close();
      setImmediate(() => resolve(served));
    });
    server.accept(conn);
  });
}

/** What the relay should hand on for a request the reference parsed. */
export function handedFor(r: Request): Omit<Handed, "complete"> {
  const { headers, hop } = splitHeaders(r.headers.flat());
  // The relay passes a length on without leading zeros.
  const length = headers["content-length"];
  if (typeof length === "string") headers["content-length"] = length.replace(/^0+(?=\d)/, "");
  let authority = hop.host ?? "";
  let path = r.target;
  if (path.startsWith("http://")) {
    try {
      const url = new URL(path);
      authority = url.host;
      path = `${url.pathname}${url.search}`;
    } catch {}
  }
  return { method: r.method, authority, path, headers, body: r.body };
}
