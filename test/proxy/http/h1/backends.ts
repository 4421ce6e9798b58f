// Backends and checks shared by the relay's tests (server.test.ts, pool.test.ts): loopback
// servers that answer in known ways, and readers of what a raw client received.
import assert from "node:assert/strict";
import http from "node:http";
import net, { type Socket } from "node:net";
import type { TestContext } from "node:test";
import { listen, RawClient, type RawResponse, signal } from "./support.js";

/** A backend answering each request with `METHOD URL BODY`, framed by its length. */
export async function echoBackend(t: TestContext): Promise<number> {
  return listen(
    t,
    http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
    }),
  );
}

/** After each abuse: a normal request on a new connection still goes through. */
export async function assertStillServes(t: TestContext, port: number, body = "GET /after "): Promise<void> {
  const client = await RawClient.connect(t, port);
  await client.write("GET /after HTTP/1.1\r\nHost: backend\r\n\r\n");
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), body);
}

export function text(res: RawResponse): string {
  return res.body.toString("latin1");
}

/**
 * A backend that answers chunked in two parts: the second (and the trailers, if any) only once the
 * test calls `finish`, so the relay must stream the response rather than receive it whole.
 */
export async function streamingBackend(
  t: TestContext,
  trailers?: Record<string, string>,
): Promise<{ port: number; started: Promise<(last: string) => void> }> {
  const started = signal<(last: string) => void>();
  const port = await listen(
    t,
    http.createServer((_req, res) => {
      res.writeHead(200, trailers ? { trailer: Object.keys(trailers).join(", ") } : {});
      res.write("first-");
      started.resolve((last) => {
        if (trailers) res.addTrailers(trailers);
        res.end(last);
      });
    }),
  );
  return { port, started: started.promise };
}

/**
 * A raw backend that keeps each request head's bytes and answers with `respond`, told the head and
 * which connection (from 1) it came on. Bodies are not parsed: requests to it carry none.
 */
export async function rawBackend(
  t: TestContext,
  respond: (socket: Socket, head: string, conn: number) => void,
): Promise<{ port: number; heads: Buffer[] }> {
  const heads: Buffer[] = [];
  let conns = 0;
  const port = await listen(
    t,
    net.createServer((socket) => {
      const conn = ++conns;
      let buf = Buffer.alloc(0);
      socket.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
          const head = buf.subarray(0, end + 4);
          heads.push(head);
          buf = buf.subarray(end + 4);
          respond(socket, head.toString("latin1"), conn);
        }
      });
      socket.on("error", () => {});
    }),
  );
  return { port, heads };
}

/** The status the relay answered with before closing, or undefined if it closed without a word. */
export async function refusal(client: RawClient): Promise<number | undefined> {
  await client.whenClosed();
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(client.all.toString("latin1"));
  return status ? Number(status[1]) : undefined;
}

export function ok(socket: Socket, body: string, extra = ""): void {
  socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`);
}

export function path(head: string): string {
  return head.split(" ")[1] ?? "";
}

/** A backend holding each /slow request until the test releases it. */
export async function slowBackend(t: TestContext): Promise<{ port: number; held: Promise<() => void> }> {
  const held = signal<() => void>();
  const port = await listen(
    t,
    http.createServer((req, res) => {
      if (req.url === "/slow") held.resolve(() => res.end("slow"));
      else res.end(`fast ${req.url}`);
    }),
  );
  return { port, held: held.promise };
}
