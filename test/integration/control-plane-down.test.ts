// The control plane down under steady traffic, on loopback with the real services and proxies. With
// destination and identity both stopped for a minute, proxies keep their last endpoints and
// certificates and fail no request, and once both are back they subscribe again (an endpoint added
// afterwards is used). With identity stopped across a certificate renewal, the proxy keeps serving its
// still-valid certificate, retries, and renews once identity returns. Every wait is for an event (a
// log line, a metric, a request answered), bounded in time; the one stretch of time is the outage the
// test is about.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import tls from "node:tls";
import { discoveringClient, put, serviceYaml, startLocalDestination } from "../support/local-destination.js";
import {
  freePort,
  get,
  meshedDestination,
  NAMESPACE,
  startMesh,
  type TestMesh,
  type TestProxy,
} from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { steadyLoad } from "../support/steady-load.js";
import { until } from "../support/wait.js";

type Cleanup = { after(fn: () => unknown): void };

/** How long the whole control plane stays down. */
const OUTAGE_MS = 60_000;

/** An app on `ip:port` answering with its name, behind its own proxy on the same address. */
async function pod(t: Cleanup, mesh: TestMesh, ip: string, port: number, name: string) {
  const served = { count: 0 };
  const app = http.createServer((req, res) => {
    served.count++;
    req.resume();
    res.end(name);
  });
  await new Promise<void>((resolve) => app.listen(port, ip, resolve));
  t.after(() => {
    app.closeAllConnections();
    app.close();
  });
  const proxy = await mesh.proxy("server", {
    inboundPorts: [port],
    env: { TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${ip}:0`, TRELLIS_PROXY_INBOUND_APP_HOST: ip },
  });
  return { ip, proxy, served };
}

test("destination and identity both down for 60 s under steady load: no request fails, and the proxy subscribes again once they are back", async (t) => {
  const mesh = await startMesh(t);
  const port = await freePort();
  const a = await pod(t, mesh, "127.0.0.1", port, "a");
  const b = await pod(t, mesh, "127.0.0.2", port, "b");
  const store = join(mesh.dir, "store");
  await mkdir(store);
  await put(join(store, "web.yaml"), serviceYaml("web", port, [a]));
  // A fixed address, so the destination service comes back where the proxy looks for it.
  const listen = `127.0.0.1:${await freePort()}`;
  let destination = await startLocalDestination(t, mesh, store, listen);
  const client = await discoveringClient(mesh, destination);
  const authority = `web.${NAMESPACE}.svc.cluster.local`;
  assert.equal((await get(client.outbound, authority, "/warm")).body, "a");

  const load = steadyLoad(client, authority);
  await until("20 requests under load before the outage", () => load.sent() >= 20, 30_000);
  await destination.child.stop();
  await mesh.stopIdentity();
  await until(
    "the client proxy to lose its destination stream",
    () => client.child.stderr().includes("destination stream lost"),
    30_000,
  );
  const sentAtOutage = load.sent();
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  const sentInOutage = load.sent() - sentAtOutage;
  assert.ok(sentInOutage >= 100, `only ${sentInOutage} requests were sent during the outage`);

  // Identity first: the destination service is certified by it as it starts.
  await mesh.startIdentity();
  destination = await startLocalDestination(t, mesh, store, listen);
  // An endpoint added now reaches the proxy only through a new subscription.
  await put(join(store, "web.yaml"), serviceYaml("web", port, [a, b]));
  await until("the endpoint added after the return to be served", () => b.served.count > 0, 60_000);

  const { sent, failures } = await load.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  t.diagnostic(
    `${sent} requests, ${sentInOutage} of them with the control plane down for ${OUTAGE_MS / 1000} s, none failed`,
  );
});

/** The serial and notAfter of the certificate the proxy's inbound listener presents to a new connection. */
function presented(proxy: TestProxy): Promise<{ serial: string; validTo: string }> {
  const at = proxy.inbound.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    // The server's certificate arrives before it judges ours (we send none); read it, then go.
    const socket = tls.connect(
      {
        host: proxy.inbound.slice(0, at),
        port: Number(proxy.inbound.slice(at + 1)),
        rejectUnauthorized: false,
        ALPNProtocols: ["h2"],
      },
      () => {
        const cert = socket.getPeerCertificate();
        resolve({ serial: cert.serialNumber, validTo: cert.valid_to });
        socket.destroy();
      },
    );
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS handshake with ${proxy.inbound}`)));
  });
}

/** Failed renewal attempts the proxy logged (each moves its identity client to backoff). */
const failedAttempts = (proxy: TestProxy) => proxy.child.stderr().match(/"to":"backoff"/g)?.length ?? 0;

test("identity down across a certificate renewal: the proxy serves its still-valid certificate, retries, and renews once identity returns", async (t) => {
  // One-minute certificates; the server proxy renews 3 s after each arrives, far inside their life,
  // so the outage below spans a renewal while the certificate it holds stays valid.
  const mesh = await startMesh(t, { issuanceLifetime: "1m" });
  const app = http.createServer((req, res) => {
    req.resume();
    res.end("ok");
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    app.closeAllConnections();
    app.close();
  });
  const appPort = (app.address() as AddressInfo).port;
  const server = await mesh.proxy("server", {
    inboundPorts: [appPort],
    env: { TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS: "3000" },
  });
  const authority = `renew.${NAMESPACE}.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
  });
  assert.equal((await get(client.outbound, authority, "/warm")).status, 200);

  await mesh.stopIdentity();
  // Whatever renewed before the stop, the next renewal falls in the outage.
  const before = await presented(server);
  const refreshes = sum(await server.metrics(), "identity_cert_refresh_count");
  const attemptsBefore = failedAttempts(server);
  const load = steadyLoad(client, authority);
  await until("three failed renewal attempts", () => failedAttempts(server) - attemptsBefore >= 3, 60_000);
  const retries = failedAttempts(server) - attemptsBefore;
  assert.deepEqual(await presented(server), before, "a new connection still gets the certificate held");
  assert.equal(sum(await server.metrics(), "identity_cert_refresh_count"), refreshes);
  const sentInOutage = load.sent();

  await mesh.startIdentity();
  await until(
    "the proxy to renew once identity is back",
    async () => sum(await server.metrics(), "identity_cert_refresh_count") > refreshes,
    60_000,
  );
  const after = await presented(server);
  assert.notEqual(after.serial, before.serial, "the renewed certificate is presented");
  assert.ok(
    Date.parse(after.validTo) > Date.parse(before.validTo),
    `notAfter ${before.validTo} -> ${after.validTo}`,
  );
  const { sent, failures } = await load.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sentInOutage > 0, "requests were sent while identity was down");
  t.diagnostic(`${retries} failed renewal attempts while identity was down; ${sent} requests, none failed`);
});
