/**
 * Fuzzing the HTTP/1.1 relay's response parsing (proxy/http/h1/client-exchange.ts), what an app
 * behind the inbound proxy (or any endpoint) answers: valid responses (interim 1xx first, bodies by
 * length, chunked with trailers, or to the connection's end) and mutated ones, from a raw backend
 * that answers and closes, through the relay over real loopback sockets to a raw client. The client
 * must get either the proxy's own error, a cut connection, or the response a strict reference parser
 * reads, with the same status and body bytes and framed canonically. Nothing the reference refuses is
 * passed on as a response of the app's.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { relay, send } from "./differential.js";
import { all, body, bodyArb, chunksArb, fieldArb, fields, Incomplete, Lines } from "./http1.js";
import { asyncBudget, corpus, hostile } from "./support.js";

interface Response {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** The first final response in `b`, which ends where the connection ended. */
function parseResponse(b: Buffer): { response: Response } | { error: string } {
  const lines = new Lines(b, 0);
  try {
    for (;;) {
      const start = lines.line();
      // The reason phrase is not checked: llhttp takes control characters in it, and the relay writes
      // its own.
      const m = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?$/.exec(start);
      if (!m) return { error: `a bad status line ${JSON.stringify(start.slice(0, 60))}` };
      const status = Number(m[2]);
      const headers = fields(lines);
      if (status === 101) return { error: "101 to a request that asked for no upgrade" };
      if (status < 200) continue;
      if (status === 204 || status === 304) return { response: { status, headers, body: Buffer.alloc(0) } };
      const framed = body(lines, headers, Number(m[1]));
      return { response: { status, headers, body: framed.body ?? b.subarray(lines.at) } };
    }
  } catch (err) {
    return { error: err instanceof Incomplete ? "cut short" : (err as Error).message };
  }
}

const statusArb = fc.constantFrom(200, 201, 204, 301, 304, 404, 500, 503);
const responseArb = fc
  .record({
    interim: fc.constantFrom(
      "",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n",
    ),
    status: statusArb,
    reason: fc.constantFrom(" OK", " Whatever it is", "", " "),
    fields: fc.array(fieldArb, { maxLength: 3 }),
    framing: fc.constantFrom("length", "chunked", "close"),
    body: bodyArb,
    chunks: chunksArb,
    trailers: fc.array(fieldArb, { maxLength: 2 }),
  })
  .map((r) => {
    let head = `${r.interim}HTTP/1.1 ${r.status}${r.reason}\r\n`;
    for (const [n, v] of r.fields) head += `${n}: ${v}\r\n`;
    if (r.status === 204 || r.status === 304) return Buffer.from(`${head}\r\n`, "latin1");
    if (r.framing === "length")
      return Buffer.concat([
        Buffer.from(`${head}content-length: ${r.body.length}\r\n\r\n`, "latin1"),
        r.body,
      ]);
    if (r.framing === "close") return Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), r.body]);
    const trailers = r.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join("");
    return Buffer.concat([
      Buffer.from(`${head}transfer-encoding: chunked\r\n\r\n`, "latin1"),
      r.chunks.wire,
      Buffer.from(`${trailers}\r\n`, "latin1"),
    ]);
  });

/** A backend that answers the first request head with `answer`, then closes. */
async function backend(answer: Buffer) {
  const server = net.createServer((socket) => {
    let head = "";
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      if (head.includes("\r\n\r\n")) socket.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** What the client got: the proxy's error, a cut, or a response of the app's. */
async function through(answer: Buffer): Promise<Buffer> {
  const app = await backend(answer);
  const proxy = await relay(app.port);
  try {
    return await send(`127.0.0.1:${proxy.port}`, Buffer.from("GET /r HTTP/1.1\r\nHost: app\r\n\r\n"));
  } finally {
    proxy.close();
    app.close();
  }
}

function check(answer: Buffer, got: Buffer, what: string): void {
  const got1 = parseResponse(got);
  // Cut before a whole response: the relay gave up (a framing error after the head went out).
  if ("error" in got1) {
    assert.equal(
      got1.error,
      "cut short",
      `${what}: the client got a response that does not parse: ${got1.error}`,
    );
    return;
  }
  const { response } = got1;
  if (all(response.headers, "trellis-proxy-error").length > 0) return;
  const framing = response.headers.filter(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
  assert.ok(framing.length <= 1, `${what}: framed twice`);
  const want = parseResponse(answer);
  assert.ok(
    "response" in want,
    `${what}: passed on a response the reference refuses (${"error" in want ? want.error : ""})`,
  );
  assert.equal(response.status, want.response.status, what);
  assert.deepEqual(response.body, want.response.body, `${what}: the body`);
}

test("responses, valid and mutated, reach the client exactly as the reference reads them, or not at all", async (t) => {
  await fc.assert(
    fc.asyncProperty(hostile(responseArb, 200), async (answer) => {
      check(answer, await through(answer), "response");
    }),
    asyncBudget(t, 60),
  );
});

test("h1-response corpus: every saved response, passed on only as the reference reads it", async () => {
  for (const { name, bytes } of corpus("h1-response")) check(bytes, await through(bytes), name);
});
