// A long-lived proxy's metrics do not grow with every pod and authority it ever talked to: series that
// stand still for TRELLIS_PROXY_METRICS_RETAIN_IDLE_MS are dropped (Linkerd's retain-idle), those in
// use stay, and a dropped authority comes back from 0 when it is asked for again.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { get, meshedDestination, startMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

const RETAIN_MS = 2_000;

test("a proxy drops the series of an authority no longer asked for, keeps those in use, and counts the first again from 0", async (t) => {
  const mesh = await startMesh(t);
  const app = http.createServer((_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  t.after(() => app.close());
  const appPort = (app.address() as AddressInfo).port;
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const old = `old.test.svc.cluster.local:${appPort}`;
  const live = `live.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(old, appPort, server), meshedDestination(live, appPort, server)],
    env: { TRELLIS_PROXY_METRICS_RETAIN_IDLE_MS: String(RETAIN_MS) },
  });

  assert.equal((await get(client.outbound, old)).status, 200);
  const requests = (metrics: string, authority: string) =>
    sum(metrics, "request_total", { direction: "outbound", authority });
  assert.equal(requests(await client.metrics(), old), 1);

  // Traffic to the other authority only, until the first's series are gone (bounded by a count).
  let sent = 0;
  let metrics = "";
  for (let i = 0; i < 150; i++) {
    assert.equal((await get(client.outbound, live)).status, 200);
    sent++;
    metrics = await client.metrics();
    if (!metrics.includes(`authority="${old}"`)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(
    !metrics.includes(`authority="${old}"`),
    `${old}'s series were kept after ${sent} requests elsewhere`,
  );
  assert.equal(requests(metrics, live), sent, "the authority in use kept its series and counts");
  // The server proxy keeps the default retain time: everything it counted is still there.
  assert.equal(sum(await server.metrics(), "request_total", { direction: "inbound" }), sent + 1);

  assert.equal((await get(client.outbound, old)).status, 200);
  assert.equal(requests(await client.metrics(), old), 1, "the authority asked for again counts from 0");
  t.diagnostic(`${old}'s series dropped after ${sent} requests to ${live}`);
});
