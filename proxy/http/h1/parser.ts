/**
 * HTTP/1.x message parsing with llhttp, the parser inside node:http, driven directly: the relay sees
 * each message's head, its body (chunked framing already removed) and its trailers as they pass,
 * without node:http's request and response objects. `_http_common` is the one module that exposes
 * the binding (DEP0199 documents it as internal, with no runtime warning on Node 20 to 24).
 */
import { createRequire } from "node:module";
import type { Headers } from "../headers.js";

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): number | ParseError | undefined;
  close(): void;
  [callback: number]: unknown;
}

interface NativeParserClass {
  new (): NativeParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

/** What llhttp returns for bytes it cannot parse; `code` is e.g. `HPE_HEADER_OVERFLOW`. */
export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed?: number;
}

const require = createRequire(import.meta.url);
const { HTTPParser, methods } = require("node:_http_common") as {
  HTTPParser: NativeParserClass;
  methods: string[];
};

export interface MessageHead {
  /** Requests: the method. */
  method: string;
  /** Requests: the request target as sent. */
  url: string;
  /** Responses: the status code. */
  status: number;
  versionMajor: number;
  versionMinor: number;
  /** Names and values, alternating, as received. */
  rawHeaders: string[];
  /** An Upgrade (or CONNECT) request: the connection stops being HTTP after this head. */
  upgrade: boolean;
  /** Whether the connection may carry another message after this one. */
  keepAlive: boolean;
}

/** `head()` returns this for a message that has no body whatever its headers say (HEAD, 1xx, 304). */
export const SKIP_BODY = 1;
/** `head()` returns this for an upgrade: parsing stops after the head. */
export const UPGRADE = 2;
/** `head()` returns this to refuse the message: `execute` returns an error (HPE_CB_HEADERS_COMPLETE). */
export const REFUSE = -1;

export interface ParserEvents {
  /** A message starts (its first byte arrived). Optional: without it, llhttp does not call into JS. */
  begin?(): void;
  /** The head is complete; returns 0, SKIP_BODY, UPGRADE, or REFUSE to stop with an error. */
  head(head: MessageHead): number;
  body(chunk: Buffer): void;
  /** The message is complete; `trailers` as received, if any. */
  end(trailers: string[] | undefined): void;
}

export class Http1Parser {
  private readonly native: NativeParser;
  /** Header fields llhttp hands over in batches before the head (or the trailers) completes. */
  private partial: string[] = [];
  /** The request target, handed over with the first batch when the head comes in several. */
  private partialUrl = "";

  constructor(kind: "request" | "response", maxHeaderBytes: number, events: ParserEvents) {
    const native = new HTTPParser();
    native.initialize(kind === "request" ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderBytes, 0);
    const begin = events.begin;
    if (begin) native[HTTPParser.kOnMessageBegin] = () => begin.call(events);
    // A head of more than 32 fields, or one parsed after trailers in the same read, comes in
    // batches: the target comes with them, and the completed head then carries neither.
    native[HTTPParser.kOnHeaders] = (fields: string[], url: string) => {
      for (const f of fields) this.partial.push(f);
      this.partialUrl += url;
    };
    native[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      fields: string[] | undefined,
      method: number | undefined,
      url: string | undefined,
      status: number | undefined,
      _statusMessage: string | undefined,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      let rawHeaders = fields;
      if (rawHeaders === undefined) {
        rawHeaders = this.partial;
        this.partial = [];
        url ||= this.partialUrl;
      }
      this.partialUrl = "";
      return events.head({
        method: method === undefined ? "" : (methods[method] ?? ""),
        url: url ?? "",
        status: status ?? 0,
        versionMajor: major,
        versionMinor: minor,
        rawHeaders,
        upgrade,
        keepAlive,
      });
    };
    native[HTTPParser.kOnBody] = (chunk: Buffer) => events.body(chunk);
    native[HTTPParser.kOnMessageComplete] = () => {
      let trailers: string[] | undefined;
      // Trailers come with the target llhttp still holds from the head: not the next message's.
      this.partialUrl = "";
      if (this.partial.length > 0) {
        trailers = this.partial;
        this.partial = [];
      }
      events.end(trailers);
    };
    this.native = native;
  }

  /** Parses bytes; the number consumed (less than all of them after an upgrade head), or the error. */
  execute(data: Buffer): number | ParseError {
    return this.native.execute(data);
  }

  /** The peer closed: completes a body delimited by the connection's end, or reports a cut message. */
  finish(): ParseError | undefined {
    const ret = this.native.finish();
    return ret instanceof Error ? ret : undefined;
  }

  close(): void {
    this.native.close();
  }
}

const UNSAFE = /[\r\n\0]/;

/**
 * Header lines for a message head, each `name: value\r\n`. A field that could not be written safely
 * (a line break or NUL in it) is left out: nothing a peer sends can add a line of its own.
 */
export function headerLines(headers: Headers): string {
  let out = "";
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || UNSAFE.test(name)) continue;
    if (typeof value === "string") {
      if (!UNSAFE.test(value)) out += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) if (!UNSAFE.test(v)) out += `${name}: ${v}\r\n`;
    }
  }
  return out;
}
