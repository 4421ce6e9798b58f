/**
 * A reference HTTP/1.1 request parser, strict as RFC 9112 reads (and stricter where a relay must be:
 * one Content-Length, Transfer-Encoding exactly `chunked`, none on HTTP/1.0, no obs-fold, CRLF only),
 * written without llhttp so it can judge what the relay's parser accepts; and the arbitraries that
 * build valid requests for the fuzz targets to mutate. The differential tests parse what an app
 * received with it too: what reaches an app must be exactly the requests the relay parsed.
 */
import fc from "fast-check";

export interface Request {
  method: string;
  target: string;
  versionMinor: number;
  /** Field lines as received: the name as sent, the value without surrounding whitespace. */
  headers: [string, string][];
  body: Buffer;
  chunked: boolean;
  trailers: [string, string][];
  keepAlive: boolean;
  /** Switches protocols after the head: what follows is not parsed. */
  upgrade: boolean;
}

export interface Parsed {
  /** The complete requests, in order. */
  requests: Request[];
  /** Why the bytes after the last complete request cannot be a request. */
  error?: string;
  /** What follows the last complete request: an incomplete one, or an upgrade's stream. */
  rest: Buffer;
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Chunk extensions (RFC 9112 §7.1.1) checked only for what could move the end of the chunk line: no
 * control character. llhttp takes some that the grammar does not (`;;`, `;a=b"c"`), which is safe
 * because the relay drops every extension when it re-frames the body.
 */
const CHUNK_EXT = /^(?:;[\t\x20-\x7e\x80-\xff]*)?$/;

export class Incomplete extends Error {}

/** Reads CRLF-terminated lines off `b`; a bare CR or LF is an error. */
export class Lines {
  constructor(
    readonly b: Buffer,
    public at: number,
  ) {}
  line(): string {
    const lf = this.b.indexOf(0x0a, this.at);
    const end = lf < 0 ? this.b.length : lf;
    const cr = this.b.indexOf(0x0d, this.at);
    // A CR that is the last byte read may yet be followed by its LF.
    if (cr >= 0 && cr < end - 1) throw new Error("a bare CR");
    if (lf < 0) throw new Incomplete();
    if (cr !== lf - 1) throw new Error("a bare LF");
    const s = this.b.subarray(this.at, cr).toString("latin1");
    this.at = lf + 1;
    return s;
  }
  take(n: number): Buffer {
    if (this.at + n > this.b.length) throw new Incomplete();
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

export function fields(lines: Lines): [string, string][] {
  const out: [string, string][] = [];
  for (;;) {
    const line = lines.line();
    if (line === "") return out;
    if (/^[ \t]/.test(line)) throw new Error("obs-fold");
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TCHAR.test(name)) throw new Error(`a bad field name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!VALUE.test(value)) throw new Error(`a control character in ${name}`);
    out.push([name, value]);
  }
}

export const all = (headers: [string, string][], name: string) =>
  headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
export const tokens = (values: string[]) =>
  values.flatMap((v) => v.split(",")).map((s) => s.trim().toLowerCase());

function request(lines: Lines): Request {
  // RFC 9112 §2.2: empty lines before a request line are ignored (llhttp skips any CR and LF there,
  // which moves no message boundary); §3: words may be split by several spaces.
  while (lines.b[lines.at] === 0x0d || lines.b[lines.at] === 0x0a) lines.at++;
  const start = lines.line();
  const m = /^([^ ]+) +([^ ]+) +HTTP\/1\.([01])$/.exec(start);
  if (!m) throw new Error(`a bad request line ${JSON.stringify(start.slice(0, 60))}`);
  const [, method = "", target = "", minor = "1"] = m;
  if (!TCHAR.test(method)) throw new Error("a bad method");
  if (!TARGET.test(target)) throw new Error("a bad request target");
  const headers = fields(lines);
  const versionMinor = Number(minor);
  const connection = tokens(all(headers, "connection"));
  const keepAlive = versionMinor === 1 ? !connection.includes("close") : connection.includes("keep-alive");
  const upgrade =
    method === "CONNECT" || (connection.includes("upgrade") && all(headers, "upgrade").length > 0);
  const base = { method, target, versionMinor, headers, trailers: [], keepAlive, upgrade };
  if (upgrade) return { ...base, body: Buffer.alloc(0), chunked: false };
  const framed = body(lines, headers, versionMinor);
  return { ...base, ...framed, body: framed.body ?? Buffer.alloc(0) };
}

/**
 * A message's body as its framing fields say, strictly: `chunked` alone, or one Content-Length in
 * digits, never both; `body` undefined when neither is there (a request has none, a response runs to
 * the connection's end).
 */
export function body(
  lines: Lines,
  headers: [string, string][],
  versionMinor: number,
): { body: Buffer | undefined; chunked: boolean; trailers: [string, string][] } {
  const te = all(headers, "transfer-encoding");
  const cl = all(headers, "content-length");
  if (te.length > 0) {
    if (cl.length > 0) throw new Error("both Content-Length and Transfer-Encoding");
    if (versionMinor === 0) throw new Error("Transfer-Encoding on HTTP/1.0");
    const codings = tokens(te);
    if (codings.length !== 1 || codings[0] !== "chunked")
      throw new Error(`Transfer-Encoding ${JSON.stringify(te.join(", "))}`);
    const parts: Buffer[] = [];
    for (;;) {
      const line = lines.line();
      const size = /^([0-9A-Fa-f]+)(.*)$/.exec(line);
      if (!size || !CHUNK_EXT.test(size[2] ?? ""))
        throw new Error(`a bad chunk line ${JSON.stringify(line)}`);
      if ((size[1] as string).replace(/^0+/, "").length > 12) throw new Error("an oversized chunk");
      const n = Number.parseInt(size[1] as string, 16);
      if (n === 0) return { body: Buffer.concat(parts), chunked: true, trailers: fields(lines) };
      parts.push(lines.take(n));
      if (lines.line() !== "") throw new Error("a chunk not followed by CRLF");
    }
  }
  if (cl.length > 1) throw new Error("several Content-Length fields");
  if (cl.length === 1) {
    if (!/^[0-9]{1,15}$/.test(cl[0] as string)) throw new Error(`Content-Length ${JSON.stringify(cl[0])}`);
    return { body: Buffer.from(lines.take(Number(cl[0]))), chunked: false, trailers: [] };
  }
  return { body: undefined, chunked: false, trailers: [] };
}

/** Parses the requests at the start of `b`, as many as are complete. */
export function parseRequests(b: Buffer): Parsed {
  const requests: Request[] = [];
  let at = 0;
  while (at < b.length) {
    const lines = new Lines(b, at);
    try {
      const req = request(lines);
      requests.push(req);
      at = lines.at;
      if (req.upgrade || !req.keepAlive) break;
    } catch (err) {
      if (err instanceof Incomplete) break;
      return { requests, error: (err as Error).message, rest: b.subarray(at) };
    }
  }
  return { requests, rest: b.subarray(at) };
}

/** A request written canonically: one field line per header, the body framed as `chunked` says. */
export function encodeRequest(r: Request): Buffer {
  let head = `${r.method} ${r.target} HTTP/1.${r.versionMinor}\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  if (!r.chunked) return Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), r.body]);
  const trailers = r.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join("");
  const chunk =
    r.body.length > 0 ? [Buffer.from(`${r.body.length.toString(16)}\r\n`), r.body, Buffer.from("\r\n")] : [];
  return Buffer.concat([
    Buffer.from(`${head}\r\n`, "latin1"),
    ...chunk,
    Buffer.from(`0\r\n${trailers}\r\n`, "latin1"),
  ]);
}

// Arbitraries: valid requests, each framed one of the ways the relay must read.

const tokenArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const valueArb = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);
export const fieldArb = fc
  .tuple(tokenArb, valueArb)
  .filter(
    ([n]) =>
      !["host", "content-length", "transfer-encoding", "connection", "upgrade", "expect", "te"].includes(n),
  )
  .map(([n, v]): [string, string] => [`x-${n}`, v]);
const targetArb = fc
  .tuple(
    fc.array(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}$/), { maxLength: 3 }),
    fc.option(valueArb.map((v) => v.replace(/[ #]/g, ""))),
  )
  .map(([segments, query]) => `/${segments.join("/")}${query ? `?${query}` : ""}`);
export const bodyArb = fc.uint8Array({ maxLength: 96 }).map((a) => Buffer.from(a));
const extArb = fc.constantFrom("", ";a", ";a=b", ';name="quoted \\" value"', ";x=1;y=2");

/** A chunked body's wire form with its pieces, extensions and size spellings varied. */
export const chunksArb = fc
  .tuple(
    bodyArb,
    fc.array(fc.nat({ max: 96 }), { maxLength: 4 }),
    fc.array(extArb, { minLength: 6, maxLength: 6 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([body, cutsAt, exts, upper, zeros]) => {
    const cuts = [...new Set(cutsAt.map((c) => Math.min(c, body.length)))].sort((a, b) => a - b);
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of [...cuts, body.length]) {
      if (c > at) pieces.push(body.subarray(at, c));
      at = Math.max(at, c);
    }
    const size = (n: number) => {
      const hex = n.toString(16);
      return `${zeros ? "00" : ""}${upper ? hex.toUpperCase() : hex}`;
    };
    const wire = Buffer.concat([
      ...pieces.flatMap((p, i) => [
        Buffer.from(`${size(p.length)}${exts[i % 6]}\r\n`),
        p,
        Buffer.from("\r\n"),
      ]),
      Buffer.from(`0${exts[5]}\r\n`),
    ]);
    return { body, wire };
  });

/** One valid request: its wire form, and what a parser must make of it. */
export const requestArb: fc.Arbitrary<{ wire: Buffer; expect: Request }> = fc
  .record({
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
    target: targetArb,
    minor: fc.constantFrom(1, 1, 1, 0),
    fields: fc.array(fieldArb, { maxLength: 4 }),
    framing: fc.constantFrom("none", "length", "chunked"),
    body: bodyArb,
    chunks: chunksArb,
    trailers: fc.array(fieldArb, { maxLength: 2 }),
  })
  .map((r) => {
    const headers: [string, string][] = [["Host", "web.test:80"], ...r.fields];
    if (r.minor === 0) headers.push(["Connection", "keep-alive"]);
    const chunked = r.framing === "chunked" && r.minor === 1;
    let body = Buffer.alloc(0);
    if (r.framing === "length" || (r.framing === "chunked" && r.minor === 0)) {
      body = r.body;
      headers.push(["Content-Length", String(body.length)]);
    } else if (chunked) {
      body = r.chunks.body;
      headers.push(["Transfer-Encoding", "chunked"]);
    }
    const trailers = chunked ? r.trailers : [];
    const expect: Request = {
      method: r.method,
      target: r.target,
      versionMinor: r.minor,
      headers,
      body,
      chunked,
      trailers,
      keepAlive: true,
      upgrade: false,
    };
    if (!chunked) return { wire: encodeRequest(expect), expect };
    const head = encodeRequest({ ...expect, chunked: false, body: Buffer.alloc(0) });
    const tail = Buffer.from(`${trailers.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`, "latin1");
    return { wire: Buffer.concat([head, r.chunks.wire, tail]), expect };
  });

/** A few valid requests pipelined on one connection. */
export const pipelineArb = fc.array(requestArb, { minLength: 1, maxLength: 3 }).map((rs) => ({
  wire: Buffer.concat(rs.map((r) => r.wire)),
  expect: rs.map((r) => r.expect),
}));
