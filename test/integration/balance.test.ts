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
/** Six times the balancer's 10 s decay: long enough for any slow answer's estimate to wear off. */
const UNTIL_EJECTED_MS = 60_000;

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

  // Peak EWMA may steer traffic away from the bad endpoint for a while: one answer slowed by a busy
  // machine raises its estimate, which decays back over 10 s (e^-6 of it is left after a minute).
  // Send requests until it has failed 7 times, bounded by count and time, rather than assume how many
  // that takes.
  const statuses: number[] = [];
  const deadline = Date.now() + UNTIL_EJECTED_MS;
  for (let i = 0; i < 30_000 && bad.hits() < 7 && Date.now() < deadline; i++)
    statuses.push((await get(client.outbound, AUTHORITY, `/r${i}`)).status);
  assert.equal(bad.hits(), 7, "the bad endpoint was tried until 7 failures in a row");
  for (let i = 0; i < 40; i++) statuses.push((await get(client.outbound, AUTHORITY, `/after${i}`)).status);
  const failures = statuses.filter((s) => s !== 200).length;
  assert.equal(bad.hits(), 7, "once out, it is not probed within its ten-minute penalty");
  assert.equal(failures, 7);
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
  const deadline = Date.now() + UNTIL_EJECTED_MS;
  for (let i = 0; i < 30_000 && bad.hits() < 7 && Date.now() < deadline; i++)
    await get(client.outbound, AUTHORITY, `/a${i}`);
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
