// Interception end to end: a client pod's network namespace whose outbound TCP iptables redirects to its
// proxy (running as UID 2102 without capabilities, its own traffic let through), and a server namespace
// joined to it by a veth pair, holding the identity and destination services (local store), the server
// pod's proxy and its apps. The client dials ClusterIPs the store knows and an address it does not:
// HTTP is routed by Host (or, without Host, by the address dialled), a server-speaks-first TCP server on
// MySQL's port answers at once (its port is opaque by default: no detection wait, the client proxy's
// detection timeout is set far beyond the test's deadlines), bytes that are not HTTP go opaque over
// mTLS, and the unknown address is forwarded plainly, each counted under the labels that say so.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { mintLocalToken } from "../../control/local/tokens.js";
import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { get, NAMESPACE, startMesh, type TestMesh } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { createNetns, type Netns, requireNetns } from "../support/netns.js";
import { bin, repoRoot, startCommand } from "../support/process.js";

const APPS = join(repoRoot, "test/integration/original-dst-apps.ts");
const tsx = import.meta.resolve("tsx");

/** The server pod's address, an address nothing in the mesh knows, and the client pod's. */
const SERVER_IP = "198.18.1.2";
const UNKNOWN_IP = "198.18.1.9";
const CLIENT_IP = "198.18.1.1";
/** ClusterIPs of the local store's Services. */
const WEB_IP = "198.19.0.10";
const DB_IP = "198.19.0.20";
const RAW_IP = "198.19.0.30";

type T = TestContext;

/** Starts an app of original-dst-apps.ts inside `ns`; resolves its listen address. */
async function app(t: T, ns: Netns, ...args: string[]): Promise<string> {
  const [command = "", ...prefix] = ns.exec;
  const child = startCommand(t, command, [...prefix, process.execPath, "--import", tsx, APPS, ...args]);
  return (await child.ready<{ listen: string }>(30_000)).listen;
}

/** Runs client steps inside `ns` (as root: its connections are intercepted); one result per step. */
function runClient(ns: Netns, steps: object[]): Record<string, string>[] {
  const [command = "", ...prefix] = ns.exec;
  const r = spawnSync(
    command,
    [...prefix, process.execPath, "--import", tsx, APPS, "client", JSON.stringify(steps)],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/** The metrics text of the proxy whose admin listens at `admin`, fetched from inside `ns`. */
function metrics(ns: Netns, admin: string): string {
  const [result] = runClient(ns, [{ get: `http://${admin}/metrics` }]);
  assert.equal(result?.status, 200, JSON.stringify(result));
  return result?.body ?? "";
}

/** The destination service (local store in `dir`) inside `ns`, certified by the mesh's identity service. */
async function destination(t: T, mesh: TestMesh, ns: Netns, dir: string) {
  const token = join(mesh.dir, "trellis-destination.token");
  await writeFile(
    token,
    await mintLocalToken(mesh.tokenKey.privateKeyPem, {
      namespace: "trellis",
      serviceAccount: "trellis-destination",
      ttlSeconds: 3600,
    }),
  );
  const anchors = join(mesh.dir, "anchors.pem");
  await writeFile(anchors, mesh.pki.anchor.certPem);
  const [command = "", ...prefix] = ns.exec;
  const child = startCommand(t, command, [
    ...prefix,
    process.execPath,
    bin("trellis-controller"),
    "destination",
    "--source=local",
    `--local-dir=${dir}`,
    `--listen=${SERVER_IP}:0`,
    "--admin-listen=127.0.0.1:0",
    `--identity-svc-addr=${mesh.identityService.listen}`,
    `--identity-svc-name=${mesh.identityService.identity}`,
    `--identity-token-file=${token}`,
    `--trust-anchors-file=${anchors}`,
  ]);
  return child.ready<{ listen: string; identity: string }>(30_000);
}

const portOf = (addr: string) => Number(addr.slice(addr.lastIndexOf(":") + 1));

test("intercepted connections are routed by their original destination: HTTP, a server that speaks first, other bytes, and an unknown address", async (t) => {
  if (!requireNetns(t)) return;
  // The client pod and the "node" with everything else, joined by a veth pair.
  const pod = createNetns(t);
  const node = createNetns(t);
  pod.sh(`
    ip link add trellis0 type veth peer name trellis1 netns ${node.name}
    ip addr add ${CLIENT_IP}/24 dev trellis0
    ip link set trellis0 up
    ip route add default via ${SERVER_IP}
    iptables -t nat -A OUTPUT -p tcp -m owner --uid-owner 2102 -j RETURN
    iptables -t nat -A OUTPUT -o lo -j RETURN
    iptables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports ${PROXY_PORTS.OUTBOUND}
  `);
  node.sh(`
    ip addr add ${SERVER_IP}/24 dev trellis1
    ip addr add ${UNKNOWN_IP}/32 dev trellis1
    ip link set trellis1 up
  `);

  // The server side: identity, apps, the server pod's proxy, the destination service and its store.
  const mesh = await startMesh(t, { host: SERVER_IP, exec: node.exec });
  // The client proxy runs as UID 2102: it must reach its token file.
  await chmod(mesh.dir, 0o755);
  const web = portOf(await app(t, node, "http", "127.0.0.1:0", "web"));
  const greeter = portOf(await app(t, node, "greeter", "127.0.0.1:0"));
  const unknown = await app(t, node, "echo", `${UNKNOWN_IP}:0`);
  const server = await mesh.proxy("server", {
    exec: node.exec,
    inboundPorts: [web, greeter],
    env: {
      TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${SERVER_IP}:0`,
      TRELLIS_PROXY_ADMIN_LISTEN_ADDR: `${SERVER_IP}:0`,
    },
  });
  const store = join(mesh.dir, "store");
  await mkdir(store);
  const service = (name: string, clusterIP: string, port: number, targetPort: number) =>
    JSON.stringify({
      apiVersion: "local.trellis.dev/v1",
      kind: "Service",
      metadata: { name, namespace: NAMESPACE },
      spec: {
        clusterIP,
        // No protocol: Linkerd's default opaque ports (3306 among them) are opaque, others HTTP.
        ports: [{ name: "main", port, targetPort }],
        endpoints: [
          {
            address: SERVER_IP,
            pod: "server-0",
            deployment: "server",
            serviceAccount: "server",
            inboundPort: portOf(server.inbound),
          },
        ],
      },
    });
  await writeFile(
    join(store, "services.yaml"),
    [
      service("web", WEB_IP, 80, web),
      service("db", DB_IP, 3306, greeter),
      service("raw", RAW_IP, 8000, greeter),
    ].join("\n---\n"),
  );
  const dest = await destination(t, mesh, node, store);

  const clientProxy = await mesh.proxy("client", {
    exec: pod.execAsProxy,
    env: {
      TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${PROXY_PORTS.OUTBOUND}`,
      TRELLIS_PROXY_INBOUND_LISTEN_ADDR: "127.0.0.1:0",
      TRELLIS_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:0",
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: dest.listen,
      TRELLIS_PROXY_DESTINATION_SVC_NAME: dest.identity,
      // Far beyond every deadline here: a connection that waited for detection would never answer.
      TRELLIS_PROXY_DETECT_TIMEOUT_MS: "600000",
    },
  });
  const client = (steps: object[]) => runClient(pod, steps);

  // (a) HTTP to the Service's ClusterIP: by its Host, and by the address dialled when there is none.
  const [byHost, noHost] = client([
    {
      raw: `${WEB_IP}:80`,
      send: `GET /by-host HTTP/1.1\r\nHost: web.${NAMESPACE}.svc.cluster.local\r\nConnection: close\r\n\r\n`,
    },
    { raw: `${WEB_IP}:80`, send: "GET /no-host HTTP/1.0\r\n\r\n" },
  ]);
  assert.match(byHost?.received ?? "", /^HTTP\/1\.1 200/, JSON.stringify(byHost));
  assert.match(byHost?.received ?? "", /"name":"web","method":"GET","path":"\/by-host"/);
  assert.match(noHost?.received ?? "", /^HTTP\/1\.[01] 200/, JSON.stringify(noHost));
  assert.match(noHost?.received ?? "", /"name":"web","method":"GET","path":"\/no-host"/);

  const serverBefore = metrics(node, server.admin);
  const clientId = mesh.identityOf("client");
  assert.ok(
    sum(serverBefore, "request_total", { direction: "inbound", tls: "true", client_id: clientId }) >= 2,
    "the server proxy saw the client's requests over mTLS",
  );
  const inboundTls = (text: string) =>
    sum(text, "tcp_open_total", { direction: "inbound", peer: "src", tls: "true", client_id: clientId });

  // (b) A server that speaks first, on MySQL's port: its greeting comes without waiting for detection,
  // and bytes go both ways.
  const [greeted] = client([{ greet: `${DB_IP}:3306`, send: "SELECT 1;\n" }]);
  assert.deepEqual(greeted, { greeting: "220 greeter ready\r\n", echoed: "SELECT 1;\n" });
  // Bytes that are not HTTP on a port that is not opaque (a TLS record's first bytes): proxied opaquely.
  const tlsLike = "\u0016\u0003\u0001\u0000\u0005hello";
  const [spoken] = client([{ speak: `${RAW_IP}:8000`, send: tlsLike }]);
  assert.equal(spoken?.received, `220 greeter ready\r\n${tlsLike}`);
  const serverAfter = metrics(node, server.admin);
  assert.ok(
    inboundTls(serverAfter) >= inboundTls(serverBefore) + 2,
    `two more mTLS connections from the client at the server proxy:\n${serverAfter}`,
  );

  // (c) An address the destination service does not know: forwarded as it is, in plaintext.
  const [forwarded] = client([{ speak: unknown, send: "plain bytes\n" }]);
  assert.equal(forwarded?.received, "plain bytes\n");

  const clientMetrics = metrics(pod, clientProxy.admin);
  assert.ok(
    sum(clientMetrics, "tcp_open_total", {
      direction: "outbound",
      peer: "dst",
      tls: "true",
      server_id: mesh.identityOf("server"),
    }) >= 2,
    `opaque streams to the server proxy over mTLS:\n${clientMetrics}`,
  );
  assert.equal(
    sum(clientMetrics, "tcp_open_total", {
      direction: "outbound",
      peer: "dst",
      tls: "no_identity",
      no_tls_reason: "not_provided_by_service_discovery",
      target_addr: unknown,
    }),
    1,
    `the unknown address, forwarded plainly:\n${clientMetrics}`,
  );
  assert.doesNotMatch(clientProxy.child.stderr(), /original destinations cannot be read/);
});

test("without the addon the proxy says why once and routes as without interception: HTTP by Host", async (t) => {
  // The bundle alone, away from the build's native/ folder: it finds no addon.
  const dir = await mkdtemp(join(tmpdir(), "trellis-od-bundle-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "proxy"));
  const script = join(dir, "proxy", "main.js");
  await copyFile(bin("trellis-proxy"), script);

  const mesh = await startMesh(t);
  const appServer = http.createServer((req, res) => {
    req.resume();
    res.end(`hello ${req.url}`);
  });
  await new Promise<void>((resolve) => appServer.listen(0, "127.0.0.1", resolve));
  t.after(() => appServer.close());
  const appPort = (appServer.address() as AddressInfo).port;
  const proxy = await mesh.proxy("client", { script });
  for (const path of ["/1", "/2"]) {
    const res = await get(proxy.outbound, `127.0.0.1:${appPort}`, path);
    assert.deepEqual([res.status, res.body], [200, `hello ${path}`]);
  }
  const warnings = proxy.child
    .stderr()
    .split("\n")
    .filter((l) => l.includes("original destinations cannot be read"));
  assert.equal(warnings.length, 1, proxy.child.stderr());
  assert.match(
    warnings[0] ?? "",
    /the native addon is not built \(looked for [^)]*native\/original_dst\.node/,
  );
});
