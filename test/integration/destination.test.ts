// The real destination service (local store of YAML files) steering real proxies: endpoints and
// traffic splits edited while traffic flows, and the control plane stopped under load. The service
// serves gRPC over TLS with a certificate from the real identity service, which proxies verify.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { mintLocalToken } from "../../control/local/tokens.js";
import { firstAnswer, meshCredentials } from "../support/destination.js";
import { put, serviceYaml } from "../support/local-destination.js";
import { freePort, get, NAMESPACE, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";
import { makeMeshPki } from "../support/pki.js";
import { bin, type Child, startNode } from "../support/process.js";
import { until } from "../support/wait.js";

/** An app on one loopback address answering its name, behind its own proxy listening there too. */
async function pod(
  t: { after(fn: () => unknown): void },
  mesh: TestMesh,
  ip: string,
  port: number,
  name: string,
): Promise<TestProxy> {
  const app = http.createServer((req, res) => {
    req.resume();
    res.end(name);
  });
  await new Promise<void>((resolve) => app.listen(port, ip, resolve));
  t.after(() => app.close());
  return mesh.proxy("server", {
    inboundPorts: [port],
    env: { TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${ip}:0`, TRELLIS_PROXY_INBOUND_APP_HOST: ip },
  });
}

/** Writes a ServiceAccount token of the local mesh for `namespace/serviceAccount`; returns its path. */
async function tokenFile(mesh: TestMesh, namespace: string, serviceAccount: string): Promise<string> {
  const path = join(mesh.dir, `${namespace}-${serviceAccount}.token`);
  const token = await mintLocalToken(mesh.tokenKey.privateKeyPem, {
    namespace,
    serviceAccount,
    ttlSeconds: 3600,
  });
  await writeFile(path, token, { mode: 0o600 });
  return path;
}

/** The destination service over TLS, certified by the mesh's identity service with `token`. */
async function spawnDestination(
  t: { after(fn: () => unknown): void },
  mesh: TestMesh,
  dir: string,
  port: number,
  token: string,
): Promise<Child> {
  return startNode(t as never, bin("trellis-controller"), [
    "destination",
    "--source=local",
    `--local-dir=${dir}`,
    `--listen=127.0.0.1:${port}`,
    "--admin-listen=127.0.0.1:0",
    ...(await identityFlags(mesh, token)),
  ]);
}

/** The destination service as trellis/trellis-destination, once ready. */
async function startDestination(
  t: { after(fn: () => unknown): void },
  mesh: TestMesh,
  dir: string,
  port = 0,
): Promise<{ child: Child; listen: string; identity: string }> {
  const token = await tokenFile(mesh, "trellis", "trellis-destination");
  const child = await spawnDestination(t, mesh, dir, port, token);
  const ready = await child.ready<{ listen: string; identity: string }>(30_000);
  return { child, listen: ready.listen, identity: ready.identity };
}

async function identityFlags(mesh: TestMesh, token: string): Promise<string[]> {
  const anchors = join(mesh.dir, "anchors.pem");
  await writeFile(anchors, mesh.pki.anchor.certPem);
  return [
    `--identity-svc-addr=${mesh.identityService.listen}`,
    `--identity-svc-name=${mesh.identityService.identity}`,
    `--identity-token-file=${token}`,
    `--trust-anchors-file=${anchors}`,
  ];
}

/**
 * Sends requests until 20 in a row answer `body`; every request must succeed. The deadline only
 * bounds a change that never arrives.
 */
async function settlesOn(client: TestProxy, authority: string, body: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let streak = 0;
  while (streak < 20) {
    const res = await get(client.outbound, authority, "/poll");
    assert.equal(
      res.status,
      200,
      `a request failed while the mesh changed: ${res.headers["trellis-proxy-error"]}`,
    );
    streak = res.body === body ? streak + 1 : 0;
    assert.ok(Date.now() < deadline, `traffic did not settle on ${body} within 30 s`);
  }
}

test("endpoints and traffic splits edited while traffic flows; the control plane stopped under load", async (t) => {
  const mesh = await startMesh(t);
  const appPort = await freePort();
  const a = await pod(t, mesh, "127.0.0.1", appPort, "a");
  const b = await pod(t, mesh, "127.0.0.2", appPort, "b");
  const dir = join(mesh.dir, "mesh");
  await mkdir(dir);
  const webFile = join(dir, "web.yaml");
  await put(webFile, serviceYaml("web", appPort, [{ ip: "127.0.0.1", proxy: a }]));
  await put(join(dir, "web-a.yaml"), serviceYaml("web-a", appPort, [{ ip: "127.0.0.1", proxy: a }]));
  await put(join(dir, "web-b.yaml"), serviceYaml("web-b", appPort, [{ ip: "127.0.0.2", proxy: b }]));
  const destinationPort = await freePort();
  let destination = await startDestination(t, mesh, dir, destinationPort);
  assert.equal(destination.identity, `spiffe://${mesh.pki.trustDomain}/ns/trellis/sa/trellis-destination`);
  const client = await mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: destination.listen,
      TRELLIS_PROXY_DESTINATION_SVC_NAME: destination.identity,
    },
  });
  const web = `web.${NAMESPACE}.svc.cluster.local`;

  assert.equal(
    (await get(client.outbound, "web", "/short-name")).body,
    "a",
    "short names resolve in the pod's namespace",
  );
  // b joins, then a leaves: traffic follows, no request fails.
  await put(
    webFile,
    serviceYaml("web", appPort, [
      { ip: "127.0.0.1", proxy: a },
      { ip: "127.0.0.2", proxy: b },
    ]),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 200 && !seen.has("b"); i++)
    seen.add((await get(client.outbound, web, `/join-${i}`)).body);
  assert.ok(seen.has("b"), "the new endpoint gets traffic");
  await put(webFile, serviceYaml("web", appPort, [{ ip: "127.0.0.2", proxy: b }]));
  await settlesOn(client, web, "b");

  // A 90/10 TrafficSplit, then edited to 0/100 without a restart.
  const split = (wa: number | string, wb: number | string, version = "v1alpha2") =>
    `${JSON.stringify({
      apiVersion: `split.smi-spec.io/${version}`,
      kind: "TrafficSplit",
      metadata: { name: "web-split", namespace: NAMESPACE },
      spec: {
        service: "web",
        backends: [
          { service: "web-a", weight: wa },
          { service: "web-b", weight: wb },
        ],
      },
    })}\n`;
  await put(join(dir, "split.yaml"), split(90, 10));
  for (let i = 0; i < 200 && (await get(client.outbound, web, `/wait-${i}`)).body !== "a"; i++);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) {
    const { body } = await get(client.outbound, web, `/split-${i}`);
    counts[body] = (counts[body] ?? 0) + 1;
  }
  const shareB = (counts.b ?? 0) / 2000;
  assert.ok(Math.abs(shareB - 0.1) <= 0.03, `web-b got ${(shareB * 100).toFixed(1)}%, expected 10 ± 3`);
  await put(join(dir, "split.yaml"), split("0", "1000m", "v1alpha1"));
  await settlesOn(client, web, "b");
  for (let i = 0; i < 50; i++)
    assert.equal((await get(client.outbound, web, `/all-b-${i}`)).body, "b", "weight 0 sends nothing");

  // The destination service stops for 30 s under steady load: nothing fails.
  await destination.child.stop();
  const end = Date.now() + 30_000;
  let sent = 0;
  while (Date.now() < end && sent < 5000) {
    const res = await get(client.outbound, web, `/offline-${sent++}`);
    assert.equal(res.status, 200, `request ${sent} failed while the control plane was away`);
  }
  destination = await startDestination(t, mesh, dir, destinationPort);
  // Back: new endpoints arrive again.
  await put(join(dir, "split.yaml"), split(100, 0));
  await settlesOn(client, web, "a");
});

test("the service and its clients verify each other: the wrong identity, plaintext, foreign or expired certificates get no endpoints", async (t) => {
  const mesh = await startMesh(t);
  const appPort = await freePort();
  const a = await pod(t, mesh, "127.0.0.1", appPort, "a");
  const dir = join(mesh.dir, "mesh");
  await mkdir(dir);
  await put(join(dir, "web.yaml"), serviceYaml("web", appPort, [{ ip: "127.0.0.1", proxy: a }]));
  const destination = await startDestination(t, mesh, dir);

  // A proxy told to expect another identity refuses the service: no endpoints, a clear reason.
  const wary = await mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: destination.listen,
      TRELLIS_PROXY_DESTINATION_SVC_NAME: mesh.identityOf("intruder"),
    },
  });
  const refused = await get(wary.outbound, "web", "/wary");
  assert.ok(
    refused.status >= 500,
    `a proxy that cannot verify the service routes nowhere (${refused.status})`,
  );
  assert.match(
    wary.child.stderr(),
    new RegExp(`presented ${destination.identity}, expected ${mesh.identityOf("intruder")}`),
    "the proxy says whom it met and whom it expected",
  );

  // Only mesh workloads may ask: plaintext, TLS without a client certificate, a certificate from
  // another mesh's CA and an expired one get no answer; the mesh's own certificate does.
  const ask = (credentials: grpc.ChannelCredentials) =>
    firstAnswer(destination.listen, credentials, `web.${NAMESPACE}.svc.cluster.local:80`, NAMESPACE);
  const tls = (leaf?: { keyPem: string; certChainPem: string }) =>
    meshCredentials(mesh.pki.anchor.certPem, leaf);
  const foreign = await makeMeshPki();
  assert.equal(await ask(grpc.credentials.createInsecure()), grpc.status.UNAVAILABLE, "plaintext");
  assert.equal(await ask(tls()), grpc.status.UNAVAILABLE, "no client certificate");
  const stranger = await foreign.leaf(foreign.identity(NAMESPACE, "client"));
  assert.equal(await ask(tls(stranger)), grpc.status.UNAVAILABLE, "another mesh's certificate");
  const expired = await mesh.pki.leaf(mesh.identityOf("client"), { expired: true });
  assert.equal(await ask(tls(expired)), grpc.status.UNAVAILABLE, "an expired certificate");
  const member = await mesh.pki.leaf(mesh.identityOf("client"));
  assert.equal(await ask(tls(member)), grpc.status.OK, "a mesh workload");

  // The right identity: endpoints arrive.
  const client = await mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: destination.listen,
      TRELLIS_PROXY_DESTINATION_SVC_NAME: destination.identity,
    },
  });
  assert.equal((await get(client.outbound, "web", "/trusted")).body, "a");
});

test("a destination service whose token is for another service account is refused a certificate and never serves", async (t) => {
  const mesh = await startMesh(t);
  const dir = join(mesh.dir, "mesh");
  await mkdir(dir);
  const port = await freePort();
  const child = await spawnDestination(t, mesh, dir, port, await tokenFile(mesh, NAMESPACE, "web"));
  await until("the refusal to be logged with its reason", () =>
    /PERMISSION_DENIED|UNAUTHENTICATED|refused/i.test(child.stderr()),
  );
  assert.ok(child.running, "it keeps trying (a token may be fixed) instead of exiting");
  assert.deepEqual(child.lines, [], "no ready line");
  await assert.rejects(
    () =>
      new Promise((resolve, reject) => {
        const socket = http.get({ host: "127.0.0.1", port, timeout: 1000 }, resolve);
        socket.on("error", reject);
      }),
    "nothing listens before the certificate",
  );
  assert.equal(await child.stop(), 0, "SIGTERM while waiting exits 0");
});
