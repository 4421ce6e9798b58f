/**
 * The admin HTTP server: `/metrics` (Prometheus), `/ready` (200 once serving with a valid issuer),
 * `/live` (200 while the process runs), and the read-only JSON routes a service adds (the destination
 * service's `/endpoints`, which `meshctl check` asks through the API server's pod proxy). Anything else
 * is 404, other methods 405; malformed or oversized requests get 400 or 431 and the connection closed,
 * and never reach the service.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Registry } from "prom-client";
import { formatHostPort, type ListenAddress } from "../../lib/address.js";
import type { Logger } from "../../lib/log.js";

export interface AdminOptions {
  registry: Registry;
  /** Whether /ready answers 200; asked on every request. */
  ready: () => { ok: boolean; reason: string };
  log: Logger;
  /** Read-only JSON routes by path: given the query, the status and the document to answer. */
  json?: Record<string, (query: URLSearchParams) => Promise<{ status: number; body: unknown }>>;
}

// Admin requests are a path and a few headers; refuse anything bigger than this.
const MAX_HEADER_BYTES = 8 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

export function createAdminServer(options: AdminOptions): Server {
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
    },
    (req, res) => {
      // A body is never expected; do not buffer one.
      req.resume();
      const [path = "/", query = ""] = (req.url ?? "/").split("?", 2);
      const text = (status: number, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
        res.end(body);
      };
      const route = Object.hasOwn(options.json ?? {}, path) ? options.json?.[path] : undefined;
      if (path !== "/metrics" && path !== "/ready" && path !== "/live" && !route)
        return text(404, "not found\n");
      if (req.method !== "GET" && req.method !== "HEAD")
        return text(405, "method not allowed\n", { allow: "GET, HEAD" });
      if (path === "/live") return text(200, "live\n");
      if (route) {
        route(new URLSearchParams(query)).then(
          ({ status, body }) =>
            text(status, `${JSON.stringify(body)}\n`, { "content-type": "application/json" }),
          (err: Error) => {
            options.log.error({ err, path }, "admin route failed");
            text(500, `${path} failed\n`);
          },
        );
        return;
      }
      if (path === "/ready") {
        const ready = options.ready();
        return text(ready.ok ? 200 : 503, `${ready.ok ? "ready" : `not ready: ${ready.reason}`}\n`);
      }
      options.registry.metrics().then(
        (body) => text(200, body, { "content-type": options.registry.contentType }),
        (err: Error) => {
          options.log.error({ err }, "collecting metrics failed");
          text(500, "collecting metrics failed\n");
        },
      );
    },
  );
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}

/** Starts `server` listening; resolves the bound address, or rejects with the listen error for the caller to name. */
export function listenAdmin(server: Server, addr: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => {
      server.off("error", reject);
      resolve(formatHostPort(addr.host, (server.address() as AddressInfo).port));
    });
  });
}
