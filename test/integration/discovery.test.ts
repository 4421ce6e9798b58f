// The proxy discovers endpoints over the destination API: a stand-in destination server (real
// grpc-js, real streams) pushes endpoint changes while traffic flows; the proxy follows them, keeps
// its last endpoints when the control plane goes away, and sends names it does not know straight on.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  type DestinationProfile,
  DestinationService,
  type GetDestination,
  type Update,
} from "../../control/api/gen/trellis/destination/v1/destination.js";
import { get, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { until } from "../support/wait.js";

/** A stand-in destination service on loopback serving `handlers`; shut down when the test ends. */
async function standInDestination(
  t: { after(fn: () => unknown): void },
  handlers: grpc.UntypedServiceImplementation,
): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(DestinationService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());
  return { port, server };
}

/** An app port behind a meshed proxy, as the destination service announces it. */
function meshedEndpoint(
  port: number,
  proxy: { identity: string; inbound: string },
  metricLabels: Record<string, string> = {},
) {
  return {
    addr: { ip: "127.0.0.1", port },
    weight: 10000,
    metricLabels,
    identity: proxy.identity,
    protocolHint: 0,
    proxyInboundPort: Number(proxy.inbound.split(":")[1]),
  };
}

async function namedApp(t: { after(fn: () => unknown): void }, name: string): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test("endpoints pushed by the destination API steer traffic; the last ones stay while it is away", async (t) => {
  const mesh = await startMesh(t);
  const portA = await namedApp(t, "a");
  const portB = await namedApp(t, "b");
  const server = await mesh.proxy("server", { inboundPorts: [portA, portB] });
  const addr = (port: number) => meshedEndpoint(port, server, { pod: `web-${port}` });

  const streams = new Set<grpc.ServerWritableStream<GetDestination, Update>>();
  const asked: string[] = [];
  const { port, server: destination } = await standInDestination(t, {
    get: (call: grpc.ServerWritableStream<GetDestination, Update>) => {
      asked.push(`${call.request.authority} from ${call.request.contextNamespace}`);
      if (call.request.authority.startsWith("web.")) {
        streams.add(call);
        call.on("cancelled", () => streams.delete(call));
        call.write({
          update: { $case: "add", value: { addrs: [addr(portA)], metricLabels: { service: "web" } } },
        });
      } else {
        call.write({ update: { $case: "noEndpoints", value: { exists: false } } });
      }
    },
    getProfile: (call: grpc.ServerWritableStream<GetDestination, unknown>) => call.end(),
  });
  const client = await mesh.proxy("client", {
    env: { TRELLIS_PROXY_DESTINATION_SVC_ADDR: `127.0.0.1:${port}` },
  });

  const authority = "web.test.svc.cluster.local:80";
  assert.equal((await get(client.outbound, authority, "/1")).body, "a");
  assert.deepEqual(asked, [`${authority} from test`]);

  // Move the service from a to b while traffic flows.
  for (const s of streams) {
    s.write({ update: { $case: "add", value: { addrs: [addr(portB)], metricLabels: { service: "web" } } } });
    s.write({ update: { $case: "remove", value: { addrs: [{ ip: "127.0.0.1", port: portA }] } } });
  }
  const deadline = Date.now() + 5000;
  let body = "a";
  while (body !== "b") {
    assert.ok(Date.now() < deadline, "traffic did not follow the endpoint change");
    body = (await get(client.outbound, authority, "/2")).body;
  }
  for (let i = 0; i < 10; i++) assert.equal((await get(client.outbound, authority, `/3-${i}`)).body, "b");

  // A name the destination service does not know goes straight to its address, in plaintext.
  const direct = await get(client.outbound, `127.0.0.1:${portA}`, "/direct");
  assert.equal(direct.body, "a");

  // The control plane goes away: the proxy keeps routing with what it knew.
  destination.forceShutdown();
  for (let i = 0; i < 10; i++) assert.equal((await get(client.outbound, authority, `/4-${i}`)).status, 200);

  const metrics = await client.metrics();
  assert.match(metrics, /request_total\{[^}]*authority="127\.0\.0\.1:\d+"[^}]*tls="no_identity"/);
  assert.match(
    metrics,
    /request_total\{[^}]*authority="web\.test\.svc\.cluster\.local:80"[^}]*tls="true"[^}]*dst_service="web"/,
  );
});

test("a profile's split, route timeout and response classes apply per request", async (t) => {
  const mesh = await startMesh(t);
  const portA = await namedApp(t, "a");
  const portB = await namedApp(t, "b");
  // `/slow` never answers while the test runs: only the route's timeout can end it.
  const held: http.ServerResponse[] = [];
  t.after(() => {
    for (const res of held) res.end("late");
  });
  const slow = http.createServer((req, res) => {
    req.resume();
    if (req.url === "/slow") held.push(res);
    else if (req.url === "/missing") {
      res.writeHead(404);
      res.end();
    } else res.end("ok");
  });
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  t.after(() => slow.close());
  const portS = (slow.address() as AddressInfo).port;
  const server = await mesh.proxy("server", { inboundPorts: [portA, portB, portS] });
  const endpoint = (port: number) => meshedEndpoint(port, server);
  const ports: Record<string, number> = {
    "web.test.svc.cluster.local:80": portA,
    "web-v1.test.svc.cluster.local:80": portA,
    "web-v2.test.svc.cluster.local:80": portB,
    "api.test.svc.cluster.local:80": portS,
  };
  const { port } = await standInDestination(t, {
    get: (call: grpc.ServerWritableStream<GetDestination, Update>) => {
      const port = ports[call.request.authority];
      call.write(
        port
          ? { update: { $case: "add", value: { addrs: [endpoint(port)], metricLabels: {} } } }
          : { update: { $case: "noEndpoints", value: { exists: false } } },
      );
    },
    getProfile: (call: grpc.ServerWritableStream<GetDestination, DestinationProfile>) => {
      const name = call.request.authority.split(":")[0] ?? "";
      const profile: DestinationProfile = {
        fullyQualifiedName: name,
        opaqueProtocol: false,
        routes: [],
        retryBudget: undefined,
        dstOverrides: [],
      };
      if (name.startsWith("web.")) {
        profile.dstOverrides = [
          { authority: "web-v1.test.svc.cluster.local:80", weight: 9000 },
          { authority: "web-v2.test.svc.cluster.local:80", weight: 1000 },
        ];
      }
      if (name.startsWith("api.")) {
        profile.routes = [
          {
            name: "GET /slow",
            condition: { match: { $case: "pathRegex", value: "/slow" } },
            responseClasses: [],
            metricsLabels: {},
            isRetryable: false,
            timeoutMs: 300,
          },
          {
            name: "missing",
            condition: {
              match: {
                $case: "all",
                value: {
                  matches: [
                    { match: { $case: "method", value: "GET" } },
                    { match: { $case: "pathRegex", value: "/miss.*" } },
                  ],
                },
              },
            },
            responseClasses: [
              { condition: { match: { $case: "status", value: { min: 404, max: 404 } } }, isFailure: true },
            ],
            metricsLabels: {},
            isRetryable: false,
            timeoutMs: 0,
          },
        ];
      }
      call.write(profile);
    },
  });
  const client = await mesh.proxy("client", {
    env: { TRELLIS_PROXY_DESTINATION_SVC_ADDR: `127.0.0.1:${port}` },
  });

  // 90/10 split over 2,000 requests lands within ±3 points.
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 2000; i++) {
    const { body } = await get(client.outbound, "web.test.svc.cluster.local", `/s${i}`);
    counts[body] = (counts[body] ?? 0) + 1;
  }
  const share = (counts.b ?? 0) / 2000;
  assert.ok(Math.abs(share - 0.1) <= 0.03, `web-v2 got ${(share * 100).toFixed(1)}% of the requests`);

  // The route's timeout answers 504 in time, saying why; the app's 404 counts as a failure on its route.
  const late = await get(client.outbound, "api.test.svc.cluster.local", "/slow");
  assert.equal(late.status, 504);
  assert.match(String(late.headers["trellis-proxy-error"]), /route GET \/slow after 300 ms/);
  assert.equal((await get(client.outbound, "api.test.svc.cluster.local", "/missing")).status, 404);
  assert.equal((await get(client.outbound, "api.test.svc.cluster.local", "/other")).body, "ok");

  const metrics = await client.metrics();
  const routeSum = (labels: Record<string, string>) => sum(metrics, "route_response_total", labels);
  assert.equal(routeSum({ rt_route: "GET /slow", status_code: "504", classification: "failure" }), 1);
  assert.equal(routeSum({ rt_route: "missing", status_code: "404", classification: "failure" }), 1);
  assert.equal(
    sum(metrics, "route_request_total", { dst: "api.test.svc.cluster.local" }),
    2,
    "/other matches no route",
  );
});

test("a retryable route retries failures within the budget; a non-retryable one never retries", async (t) => {
  const mesh = await startMesh(t);
  let hits = 0;
  // Fails every other request it sees: without retries half the requests would fail.
  const flaky = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(hits % 2 === 1 ? 503 : 200);
    res.end();
  });
  await new Promise<void>((resolve) => flaky.listen(0, "127.0.0.1", resolve));
  t.after(() => flaky.close());
  const appPort = (flaky.address() as AddressInfo).port;
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = "flaky.test.svc.cluster.local:80";
  const { port } = await standInDestination(t, {
    get: (call: grpc.ServerWritableStream<GetDestination, Update>) => {
      call.write({
        update: {
          $case: "add",
          value: {
            addrs: [meshedEndpoint(appPort, server)],
            metricLabels: {},
          },
        },
      });
    },
    getProfile: (call: grpc.ServerWritableStream<GetDestination, DestinationProfile>) => {
      const route = (name: string, path: string, isRetryable: boolean) => ({
        name,
        condition: { match: { $case: "pathRegex" as const, value: path } },
        responseClasses: [],
        metricsLabels: {},
        isRetryable,
        timeoutMs: 0,
      });
      call.write({
        fullyQualifiedName: "flaky.test.svc.cluster.local",
        opaqueProtocol: false,
        routes: [route("retry", "/retry/.*", true), route("once", "/once/.*", false)],
        retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 1, ttlMs: 10_000 },
        dstOverrides: [],
      });
    },
  });
  const client = await mesh.proxy("client", {
    env: { TRELLIS_PROXY_DESTINATION_SVC_ADDR: `127.0.0.1:${port}` },
  });

  const N = 100;
  let ok = 0;
  for (let i = 0; i < N; i++) if ((await get(client.outbound, authority, `/retry/${i}`)).status === 200) ok++;
  const metrics = await client.metrics();
  const retries = sum(metrics, "route_retry_total", { rt_route: "retry" });
  assert.ok(ok >= 0.7 * N, `only ${ok} of ${N} succeeded with retries (about half would without)`);
  assert.ok(
    retries >= 1 && retries <= 0.5 * N + 10,
    `${retries} retries: the budget allows 0.5 per request plus 10`,
  );
  assert.equal(hits, N + retries, "every retry reached the app once");

  const before = hits;
  let failed = 0;
  for (let i = 0; i < 20; i++)
    if ((await get(client.outbound, authority, `/once/${i}`)).status !== 200) failed++;
  assert.equal(hits - before, 20, "a non-retryable route is never retried");
  assert.ok(failed >= 9, `${failed} of 20 failed: the app's failures reach the client`);

  // A client that goes away while the proxy holds its body for a possible retry: the request is
  // dropped (counted as failed, without a status) and the proxy serves on.
  const retryRoute = async (name: string, labels: Record<string, string> = {}) =>
    sum(await client.metrics(), name, { rt_route: "retry", ...labels });
  const started = await retryRoute("route_request_total");
  const dropped = await retryRoute("route_response_total", { status_code: "0" });
  const [host, outPort] = client.outbound.split(":");
  const quitter = net.connect({ host, port: Number(outPort) });
  quitter.on("error", () => {});
  await new Promise<void>((resolve) => quitter.once("connect", () => resolve()));
  quitter.write(`POST /retry/quit HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 10000\r\n\r\n`);
  quitter.write("x".repeat(100));
  await until(
    "the proxy to start the request",
    async () => (await retryRoute("route_request_total")) > started,
  );
  quitter.destroy();
  await until(
    "the proxy to count the dropped request",
    async () => (await retryRoute("route_response_total", { status_code: "0" })) > dropped,
  );
  assert.equal(client.child.running, true, client.child.stderr());
  assert.doesNotMatch(client.child.stderr(), /uncaught exception/);
  const after = await get(client.outbound, authority, "/once/after");
  assert.ok(after.status >= 200, `the proxy answered ${after.status}`);
});

test("discovery streams are kept while in use, closed when idle, and reopened on the next request", async (t) => {
  const mesh = await startMesh(t);
  const portA = await namedApp(t, "a");
  const server = await mesh.proxy("server", { inboundPorts: [portA] });
  let open = 0;
  let opened = 0;
  const { port } = await standInDestination(t, {
    get: (call: grpc.ServerWritableStream<GetDestination, Update>) => {
      open++;
      opened++;
      call.on("cancelled", () => open--);
      call.write({
        update: {
          $case: "add",
          value: {
            addrs: [meshedEndpoint(portA, server)],
            metricLabels: {},
          },
        },
      });
    },
    getProfile: (call: grpc.ServerWritableStream<GetDestination, unknown>) => call.end(),
  });
  const client = await mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: `127.0.0.1:${port}`,
      // The proxy's own clock: the stream must outlive the moments the test takes to see the answer.
      TRELLIS_PROXY_DESTINATION_IDLE_MS: "4000",
    },
  });
  const authority = "idle.test.svc.cluster.local";
  assert.equal((await get(client.outbound, authority, "/1")).body, "a");
  assert.equal(open, 1);
  await until("the idle stream to be closed", () => open === 0, 30_000);
  assert.equal((await get(client.outbound, authority, "/2")).body, "a");
  assert.equal(opened, 2, "the next request opened the stream again");
});
