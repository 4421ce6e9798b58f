// Per-request balancing through real proxies: an endpoint that fails every request is taken out after
// consecutive failures, and traffic carries on on the healthy one; once it heals, a probe brings it
// back. The penalty is set through the proxy's variables, so no assertion depends on how fast this
// machine runs the requests: out for ten minutes in the first test, probed back as soon as possible
// in the second, which waits for the event rather than for a time.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { ENV } from "../../proxy/config.js";
import { get, meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

async function app(
  t: { after(fn: () => unknown): void },
  initialStatus: number,
): Promise<{ port: number; hits: () => number; answer: (status: number) => void }> {
  let hits = 0;
  let status = initialStatus;
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(status);
    res.end(`${status}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    answer: (s) => {
      status = s;
    },
  };
}

const AUTHORITY = "pool.test.svc.cluster.local:80";

/** A server proxy in front of both apps, and a client proxy whose destination holds both endpoints. */
async function pool(
  t: TestContext,
  good: { port: number },
  bad: { port: number },
  env: Record<string, string>,
) {
  const mesh = await startMesh(t);
  const server = await mesh.proxy("server", { inboundPorts: [good.port, bad.port] });
  const destination = meshedDestination(AUTHORITY, good.port, server);
  const [first] = destination.endpoints;
  assert.ok(first);
  destination.endpoints.push({ ...first, address: `127.0.0.1:${bad.port}` });
  return mesh.proxy("client", { destinations: [destination], env });
}

test("an endpoint failing every request is ejected and the rest of the traffic succeeds", async (t) => {
  const good = await app(t, 200);
  const bad = await app(t, 500);
  const client = await pool(t, good, bad, {
    [ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS]: "600000",
    [ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS]: "600000",
  });

  // How often the balancer picks the bad endpoint follows the latencies it measures, which a busy
  // machine skews (a slow answer keeps an endpoint unpicked until its estimate decays): count its
  // failures rather than the requests it takes to reach them.
  const statuses: number[] = [];
  const deadline = Date.now() + 120_000;
  while (bad.hits() < 7) {
    assert.ok(Date.now() < deadline, `the bad endpoint got ${bad.hits()} requests in 120 s, not 7`);
    statuses.push((await get(client.outbound, AUTHORITY, `/r${statuses.length}`)).status);
  }
  for (let i = 0; i < 40; i++) statuses.push((await get(client.outbound, AUTHORITY, `/after${i}`)).status);
  const failures = statuses.filter((s) => s !== 200).length;
  assert.equal(bad.hits(), 7, "the bad endpoint is out after 7 failures in a row, and not probed yet");
  assert.equal(failures, 7);
  assert.equal(good.hits(), statuses.length - 7);
  assert.deepEqual(statuses.slice(-40), new Array(40).fill(200), "once it is out, every request succeeds");

  const metrics = await client.metrics();
  assert.equal(
    sum(metrics, "response_total", { direction: "outbound", classification: "failure" }),
    failures,
  );
});

test("an ejected endpoint that heals is probed and gets traffic again", async (t) => {
  const good = await app(t, 200);
  const bad = await app(t, 500);
  const client = await pool(t, good, bad, {
    [ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS]: "1",
    [ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS]: "20",
  });
  // Until it has failed 7 times in a row it is still in; count requests, not time.
  for (let i = 0; i < 400 && bad.hits() < 7; i++) await get(client.outbound, AUTHORITY, `/a${i}`);
  assert.ok(bad.hits() >= 7, "the bad endpoint was tried until ejected");
  bad.answer(200);
  const before = bad.hits();
  // A probe comes once the short penalty is over; then the healed endpoint takes its share again.
  let ok = 0;
  for (let i = 0; i < 2000 && bad.hits() < before + 5; i++)
    if ((await get(client.outbound, AUTHORITY, `/b${i}`)).status === 200) ok++;
  assert.ok(bad.hits() >= before + 5, `the healed endpoint got ${bad.hits() - before} requests after 2000`);
  assert.ok(ok > 0);
});
