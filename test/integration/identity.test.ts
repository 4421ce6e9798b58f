// Certificates come and go under traffic: leaves renewed every few hundred milliseconds are swapped in
// without failing a request, and the identity service restarting while proxies hold certificates fails
// nothing either. Every wait is for an event (a refresh counted, a process ready), never for a time.
import assert from "node:assert/strict";
import { rename, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import tls from "node:tls";
import { mintLocalToken } from "../../control/local/tokens.js";
import { freePort, get, meshedDestination, NAMESPACE, startMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { bin, startNode } from "../support/process.js";
import { steadyLoad } from "../support/steady-load.js";

async function echoApp(t: { after(fn: () => unknown): void }): Promise<number> {
  const app = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end(`ok ${req.url}\n`));
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  t.after(() => app.close());
  return (app.address() as AddressInfo).port;
}

/** One client, a request every 20 ms at most, 2,000 at the most. */
const ONE_AT_A_TIME = { workers: 1, max: 2000, pauseMs: 20, timeoutMs: 5000 };

/** Resolves once the proxy has refreshed its certificate at least `count` times. */
async function refreshed(proxy: TestProxy, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (sum(await proxy.metrics(), "identity_cert_refresh_count") >= count) return;
    assert.ok(Date.now() < deadline, `${proxy.identity} did not refresh its certificate ${count} times`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The serial number of the certificate the proxy's inbound listener presents now. */
function presentedSerial(proxy: TestProxy): Promise<string> {
  const [host, port] = [
    proxy.inbound.slice(0, proxy.inbound.lastIndexOf(":")),
    proxy.inbound.slice(proxy.inbound.lastIndexOf(":") + 1),
  ];
  return new Promise((resolve, reject) => {
    // The server's certificate arrives before it judges ours (we send none); read it, then go.
    const socket = tls.connect(
      { host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ["h2"] },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      },
    );
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS handshake with ${proxy.inbound}`)));
  });
}

test("certificates renewed again and again under steady traffic fail no request, and the new one is presented", async (t) => {
  const mesh = await startMesh(t);
  const appPort = await echoApp(t);
  // Renew every few hundred milliseconds: renewal is driven by the proxies' refresh bounds, so nothing
  // here waits for a certificate to expire, and a slow moment cannot make one lapse.
  const env = {
    TRELLIS_PROXY_IDENTITY_MIN_REFRESH_MS: "100",
    TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS: "300",
  };
  const server = await mesh.proxy("server", { inboundPorts: [appPort], env });
  const authority = `renew.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
    env,
  });
  const firstSerial = await presentedSerial(server);

  // Four renewals each (the first certificate counts as one), with requests flowing all along.
  const renewals = Promise.all([refreshed(client, 5), refreshed(server, 5)]);
  const load = steadyLoad(client, authority, ONE_AT_A_TIME);
  await renewals;
  const { sent, failures } = await load.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 5, `only ${sent} requests were sent`);
  assert.notEqual(await presentedSerial(server), firstSerial, "the server presents its renewed certificate");

  // A client that connects now is served under the renewed certificate too.
  const late = await mesh.proxy("late-client", {
    destinations: [meshedDestination(authority, appPort, server)],
  });
  const res = await get(late.outbound, authority, "/late");
  assert.equal(res.status, 200);
  assert.equal(res.body, "ok /late\n");
  const inbound = await server.metrics();
  assert.ok(
    sum(inbound, "request_total", { direction: "inbound", tls: "true", client_id: late.identity }) >= 1,
  );
});

test("restarting the identity service while proxies hold certificates fails no request", async (t) => {
  const mesh = await startMesh(t);
  const appPort = await echoApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = `restart.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
  });

  // Ten requests before the restart and ten after it, counted rather than timed.
  const load = steadyLoad(client, authority, ONE_AT_A_TIME);
  await load.reached(10);
  await mesh.restartIdentity();
  await load.reached(load.sent() + 10);
  const { sent, failures } = await load.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent >= 20, `only ${sent} requests were sent`);

  // And the restarted service certifies a new proxy.
  const fresh = await mesh.proxy("fresh", { destinations: [meshedDestination(authority, appPort, server)] });
  const res = await get(fresh.outbound, authority, "/fresh");
  assert.equal(res.status, 200);
});

test("a proxy whose token does not authenticate stays live but not ready, and gets ready once it does", async (t) => {
  const mesh = await startMesh(t);
  const adminPort = await freePort();
  const env = await mesh.proxyEnv("late", {
    env: { TRELLIS_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${adminPort}` },
  });
  const tokenFile = env.TRELLIS_PROXY_IDENTITY_TOKEN_FILE as string;
  await writeFile(tokenFile, "not-a-token");
  const proxy = startNode(t, bin("trellis-proxy"), [], env);
  const admin = `127.0.0.1:${adminPort}`;
  const status = (path: string) =>
    fetch(`http://${admin}${path}`).then(
      (r) => r.status,
      () => 0,
    );

  // The admin server is up at once; readiness waits for a certificate the identity service refuses.
  const deadline = Date.now() + 15_000;
  while ((await status("/live")) !== 200) {
    assert.ok(Date.now() < deadline, "/live never answered");
    await new Promise((r) => setTimeout(r, 100));
  }
  for (let i = 0; i < 5; i++) {
    assert.equal(await status("/ready"), 503, "not ready without a certificate");
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(proxy.running, "a refused token is retried, not fatal");

  // The kubelet rotates the token in: the next attempt (re-reading the file) succeeds.
  const token = await mintLocalToken(mesh.tokenKey.privateKeyPem, {
    namespace: NAMESPACE,
    serviceAccount: "late",
    ttlSeconds: 600,
  });
  await writeFile(`${tokenFile}.new`, token);
  await rename(`${tokenFile}.new`, tokenFile);
  await proxy.ready(30_000);
  assert.equal(await status("/ready"), 200);
});
