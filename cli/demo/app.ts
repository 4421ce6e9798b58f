#!/usr/bin/env node
/**
 * A demo workload, run as its own process like a container in a pod. As a server it answers HTTP and,
 * for each request, calls its upstream services through its proxy's outbound port, the way an app in
 * the mesh does; as a traffic generator it sends a steady, bounded stream of requests to one service.
 *
 * Environment: DEMO_NAME, DEMO_ROLE (server|traffic), DEMO_LISTEN (host:port, server), DEMO_PROXY
 * (the proxy's outbound host:port), DEMO_UPSTREAMS (comma-separated authorities), DEMO_FAILURE_RATE
 * (0..1, server), DEMO_FAILURE_PATH (only requests under this path fail; default all), DEMO_RPS
 * (traffic), DEMO_MAX_SECONDS (traffic stops by itself after this).
 */
import http from "node:http";
import { type HostPort, parseHostPort } from "../../lib/address.js";
import { EXIT_USAGE } from "../../lib/exit-codes.js";

const env = process.env;
const name = env.DEMO_NAME ?? "app";
const role = env.DEMO_ROLE ?? "server";
const upstreams = (env.DEMO_UPSTREAMS ?? "").split(",").filter(Boolean);
const { host: proxyHost, port: proxyPort } = address("DEMO_PROXY", env.DEMO_PROXY ?? "127.0.0.1:4140");
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function address(variable: string, value: string): HostPort {
  const parsed = parseHostPort(value);
  if (!parsed) {
    process.stderr.write(`${name}: ${variable}="${value}" is not host:port\n`);
    process.exit(EXIT_USAGE);
  }
  return parsed;
}

/** One request through the proxy: the authority goes in Host, as a client of a Service would send it. */
function call(authority: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: proxyHost, port: proxyPort, path, agent, headers: { host: authority }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve(0));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

function serve(): void {
  const { host, port } = address("DEMO_LISTEN", env.DEMO_LISTEN ?? "127.0.0.1:8080");
  const failureRate = Number(env.DEMO_FAILURE_RATE ?? "0");
  const failurePath = env.DEMO_FAILURE_PATH ?? "/";
  const server = http.createServer(async (req, res) => {
    const path = req.url ?? "/";
    const results: Record<string, number> = {};
    for (const authority of upstreams) results[authority] = await call(authority, path);
    const unlucky = path.startsWith(failurePath) && Math.random() < failureRate;
    const failed = unlucky || Object.values(results).some((s) => s >= 500 || s === 0);
    res.writeHead(failed ? 500 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify({ name, upstreams: results }));
  });
  server.listen(port, host);
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

function generate(): void {
  const rps = Math.max(0.1, Number(env.DEMO_RPS ?? "10"));
  const deadline = Date.now() + Number(env.DEMO_MAX_SECONDS ?? "3600") * 1000;
  const paths = ["/", "/books", "/authors", "/books/1"];
  let n = 0;
  const timer = setInterval(() => {
    if (Date.now() > deadline) {
      clearInterval(timer);
      agent.destroy();
      return;
    }
    for (const authority of upstreams) void call(authority, paths[n++ % paths.length] ?? "/");
  }, 1000 / rps);
  const stop = () => {
    clearInterval(timer);
    agent.destroy();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (role === "traffic") generate();
else serve();
