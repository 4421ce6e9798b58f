// Per-request balancing through real proxies: an endpoint that fails every request is taken out after
// consecutive failures, and traffic carries on on the healthy one.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { get, meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

async function app(
  t: { after(fn: () => unknown): void },
  status: number,
): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(status);
    res.end(`${status}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

test("an endpoint failing every request is ejected and the rest of the traffic succeeds", async (t) => {
  const mesh = await startMesh(t);
  const good = await app(t, 200);
  const bad = await app(t, 500);
  const server = await mesh.proxy("server", { inboundPorts: [good.port, bad.port] });
  const authority = "pool.test.svc.cluster.local:80";
  const destination = meshedDestination(authority, good.port, server);
  const [first] = destination.endpoints;
  assert.ok(first);
  destination.endpoints.push({ ...first, address: `127.0.0.1:${bad.port}` });
  const client = await mesh.proxy("client", { destinations: [destination] });

  const statuses: number[] = [];
  for (let i = 0; i < 80; i++) statuses.push((await get(client.outbound, authority, `/r${i}`)).status);
  const failures = statuses.filter((s) => s !== 200).length;
  assert.ok(bad.hits() >= 1, "both endpoints were tried");
  assert.ok(failures <= 7, `${failures} requests failed: the bad endpoint should be out after 7 in a row`);
  assert.deepEqual(statuses.slice(-40), new Array(40).fill(200), "once it is out, every request succeeds");
  assert.equal(good.hits() + bad.hits(), 80);

  const metrics = await client.metrics();
  assert.equal(
    sum(metrics, "response_total", { direction: "outbound", classification: "failure" }),
    failures,
  );
});
