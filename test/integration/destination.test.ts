// The real destination service (local store of YAML files) steering real proxies: endpoints and
// traffic splits edited while traffic flows, and the control plane stopped under load.
import assert from "node:assert/strict";
import { mkdir, rename, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { freePort, get, NAMESPACE, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";
import { bin, type Child, startNode } from "../support/process.js";

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

const inboundPortOf = (p: TestProxy) => Number(p.inbound.slice(p.inbound.lastIndexOf(":") + 1));

/** Writes a file the way an editor or a ConfigMap update does: a new file renamed into place. */
async function put(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

function service(name: string, appPort: number, endpoints: { ip: string; proxy: TestProxy }[]): string {
  return `${JSON.stringify({
    apiVersion: "local.trellis.dev/v1",
    kind: "Service",
    metadata: { name, namespace: NAMESPACE },
    spec: {
      ports: [{ name: "http", port: 80, targetPort: appPort }],
      endpoints: endpoints.map((e) => ({
        address: e.ip,
        pod: `${name}-${e.ip}`,
        deployment: name,
        serviceAccount: "server",
        inboundPort: inboundPortOf(e.proxy),
      })),
    },
  })}\n`;
}

async function startDestination(
  t: { after(fn: () => unknown): void },
  dir: string,
  port = 0,
): Promise<{ child: Child; listen: string }> {
  const child = startNode(t as never, bin("trellis-controller"), [
    "destination",
    "--source=local",
    `--local-dir=${dir}`,
    `--listen=127.0.0.1:${port}`,
    "--admin-listen=127.0.0.1:0",
  ]);
  const ready = await child.ready<{ listen: string }>(30_000);
  return { child, listen: ready.listen };
}

/** Sends requests until 20 in a row answer `body` (bounded); every request must succeed. */
async function settlesOn(client: TestProxy, authority: string, body: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let streak = 0;
  while (streak < 20) {
    const res = await get(client.outbound, authority, "/poll");
    assert.equal(
      res.status,
      200,
      `a request failed while the mesh changed: ${res.headers["trellis-proxy-error"]}`,
    );
    streak = res.body === body ? streak + 1 : 0;
    assert.ok(Date.now() < deadline, `traffic did not settle on ${body} within 5 s`);
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
  await put(webFile, service("web", appPort, [{ ip: "127.0.0.1", proxy: a }]));
  await put(join(dir, "web-a.yaml"), service("web-a", appPort, [{ ip: "127.0.0.1", proxy: a }]));
  await put(join(dir, "web-b.yaml"), service("web-b", appPort, [{ ip: "127.0.0.2", proxy: b }]));
  const destinationPort = await freePort();
  let destination = await startDestination(t, dir, destinationPort);
  const client = await mesh.proxy("client", {
    env: { TRELLIS_PROXY_DESTINATION_SVC_ADDR: destination.listen },
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
    service("web", appPort, [
      { ip: "127.0.0.1", proxy: a },
      { ip: "127.0.0.2", proxy: b },
    ]),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 200 && !seen.has("b"); i++)
    seen.add((await get(client.outbound, web, `/join-${i}`)).body);
  assert.ok(seen.has("b"), "the new endpoint gets traffic");
  await put(webFile, service("web", appPort, [{ ip: "127.0.0.2", proxy: b }]));
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
  destination = await startDestination(t, dir, destinationPort);
  // Back: new endpoints arrive again.
  await put(join(dir, "split.yaml"), split(100, 0));
  await settlesOn(client, web, "a");
});
