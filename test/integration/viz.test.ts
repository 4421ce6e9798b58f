// Golden metrics from real proxies, two ways: a real Prometheus scraping them, and meshctl's direct
// scrape of their admin endpoints. start app → start identity → start proxies → start Prometheus →
// send bounded load → `meshctl viz` as a user runs it → assert.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { get, meshedDestination, NAMESPACE, startMesh } from "../support/mesh.js";
import { meshctl } from "../support/meshctl.js";
import {
  RPS_TOLERANCE,
  SCRAPE_INTERVAL_S,
  SUCCESS_TOLERANCE,
  startPrometheus,
  WINDOW_SCRAPES,
} from "../support/prometheus.js";
import { requireTools } from "../support/tools.js";
import { until } from "../support/wait.js";

interface StatJson {
  name: string;
  meshed: string;
  success: number | null;
  rps: number;
  latency_ms_p50: number | null;
  latency_ms_p99: number | null;
}

/**
 * The app: `/fail` answers 500, `/slow` answers after 150 ms, anything else at once. `answered`
 * counts its answers by path.
 */
function app(answered: Record<string, number>): http.Server {
  return http.createServer((req, res) => {
    const answer = (status: number) => {
      answered[req.url ?? ""] = (answered[req.url ?? ""] ?? 0) + 1;
      res.writeHead(status).end("ok");
    };
    if (req.url === "/fail") answer(500);
    else if (req.url === "/slow") setTimeout(() => answer(200), 150);
    else answer(200);
  });
}

/**
 * Steady load until `done()`: requests at about `rps`, at most 16 in flight, bounded by `count`
 * requests and `maxMs` whatever is left. `path(i)` picks each request's path.
 */
async function load(
  outbound: string,
  authority: string,
  o: { done: () => boolean; count: number; rps: number; maxMs: number; path: (i: number) => string },
) {
  const deadline = Date.now() + o.maxMs;
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; !o.done() && i < o.count && Date.now() < deadline; i++) {
    const p = get(outbound, authority, o.path(i)).catch(() => undefined);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
    if (inFlight.size >= 16) await Promise.race(inFlight);
    await sleep(1000 / o.rps);
  }
  await Promise.all(inFlight);
}

const WINDOW = `${SCRAPE_INTERVAL_S * WINDOW_SCRAPES}s`;
/**
 * The tolerances are test/support/prometheus.ts's. Latency quantiles interpolate inside the same
 * buckets: both in the delay's bucket (100-200 ms), or both under 50 ms without delay.
 */

test("viz stat from a real Prometheus and from a direct scrape agree; success and latency follow injected failures and delay; edges show identities", async (t) => {
  if (!requireTools(t, "prometheus")) return;
  const mesh = await startMesh(t);
  const answered: Record<string, number> = {};
  const server = app(answered);
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const appPort = (server.address() as AddressInfo).port;
  const backend = await mesh.proxy("server", { inboundPorts: [appPort] });
  const authority = `server.${NAMESPACE}.svc.cluster.local:${appPort}`;
  const plain = `plain.${NAMESPACE}.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [
      meshedDestination(authority, appPort, backend, {
        service: "server",
        namespace: NAMESPACE,
        deployment: "server",
      }),
      // An endpoint with no identity: the destination is not meshed, so the client sends plaintext.
      {
        authority: plain,
        labels: { service: "plain", namespace: NAMESPACE, deployment: "plain" },
        endpoints: [{ address: `127.0.0.1:${appPort}` }],
      },
    ],
  });
  const proxies = [
    { name: "server", proxy: backend },
    { name: "client", proxy: client },
  ];
  const { url } = await startPrometheus(
    t,
    proxies.map((p) => ({
      admin: p.proxy.admin,
      labels: { namespace: NAMESPACE, deployment: p.name, pod: `${p.name}-0` },
    })),
  );
  // The direct source reads a demo state file; this one names the test's proxies.
  const statePath = join(mesh.dir, "viz-state.json");
  await writeFile(
    statePath,
    JSON.stringify({
      pid: process.pid,
      startedAt: Date.now(),
      namespace: NAMESPACE,
      storeDir: mesh.dir,
      proxies: proxies.map((p) => ({
        name: p.name,
        pod: `${p.name}-0`,
        admin: p.proxy.admin,
        identity: p.proxy.identity,
      })),
    }),
  );

  const statBoth = async () => {
    const direct = await meshctl([
      "viz",
      "stat",
      "deploy/server",
      "--demo-state",
      statePath,
      "-t",
      WINDOW,
      "-o",
      "json",
    ]);
    const prom = await meshctl([
      "viz",
      "stat",
      "deploy/server",
      "--prometheus-url",
      url,
      "-n",
      NAMESPACE,
      "-t",
      WINDOW,
      "-o",
      "json",
    ]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(prom.code, 0, prom.stderr);
    const [d] = JSON.parse(direct.stdout) as StatJson[];
    const [p] = JSON.parse(prom.stdout) as StatJson[];
    assert.ok(d && p, `one row each: ${direct.stdout} ${prom.stdout}`);
    assert.equal(d.name, "server");
    assert.equal(p.name, "server");
    assert.equal(d.meshed, "1/1");
    assert.equal(p.meshed, "1/1");
    assert.ok(Math.abs(d.rps - p.rps) <= RPS_TOLERANCE * d.rps, `RPS: direct ${d.rps}, Prometheus ${p.rps}`);
    assert.ok(
      Math.abs((d.success ?? 0) - (p.success ?? 0)) <= SUCCESS_TOLERANCE,
      `success: direct ${d.success}, Prometheus ${p.success}`,
    );
    t.diagnostic(`direct ${JSON.stringify(d)} / Prometheus ${JSON.stringify(p)}`);
    return { d, p };
  };

  // Phase 1: every 10th request fails, no delay, ~40 rps while both sources read the same window.
  // The load runs until both have read it, however long a busy machine takes to start them.
  let measured = false;
  const phase1 = load(client.outbound, authority, {
    done: () => measured,
    count: 8000,
    rps: 40,
    maxMs: 180_000,
    path: (i) => (i % 10 === 9 ? "/fail" : "/"),
  });
  // Three seconds' worth of the phase's requests answered: the window holds steady traffic.
  await until(
    "120 requests of the first phase",
    () => (answered["/"] ?? 0) + (answered["/fail"] ?? 0) >= 120,
  );
  const fast = await statBoth().finally(() => {
    measured = true;
  });
  await phase1;
  for (const row of [fast.d, fast.p]) {
    assert.ok(
      Math.abs((row.success ?? 0) - 0.9) <= SUCCESS_TOLERANCE,
      `success follows 10 % failures: ${row.success}`,
    );
    assert.ok(row.rps > 0, `load was counted: ${row.rps} rps`);
  }

  // Phase 2: every request waits 150 ms in the app, none fails.
  measured = false;
  const phase2 = load(client.outbound, authority, {
    done: () => measured,
    count: 8000,
    rps: 40,
    maxMs: 180_000,
    path: () => "/slow",
  });
  await until("120 requests of the second phase", () => (answered["/slow"] ?? 0) >= 120);
  const slow = await statBoth().finally(() => {
    measured = true;
  });
  await phase2;
  for (const [i, row] of [slow.d, slow.p].entries()) {
    assert.equal(row.success, 1, "no failures injected");
    for (const q of [row.latency_ms_p50, row.latency_ms_p99])
      assert.ok(q !== null && q >= 100, `latency follows the 150 ms delay: ${q}`);
    const before = [fast.d, fast.p][i]?.latency_ms_p50 ?? 999;
    assert.ok(before < (row.latency_ms_p50 ?? 0), `no delay, less latency: p50 ${before} before the delay`);
  }

  // Edges: client → server over mTLS with both identities; client → plain without, and why.
  await get(client.outbound, plain, "/");
  for (const args of [
    ["--demo-state", statePath],
    ["--prometheus-url", url, "-n", NAMESPACE],
  ]) {
    const edges = await meshctl(["viz", "edges", "deploy", ...args, "-o", "json"]);
    assert.equal(edges.code, 0, edges.stderr);
    const rows = JSON.parse(edges.stdout) as {
      src: string;
      dst: string;
      secured: boolean;
      client_id: string;
      server_id: string;
      no_tls_reason: string;
    }[];
    const secured = rows.find((r) => r.src === "client" && r.dst === "server");
    assert.deepEqual(
      { secured: secured?.secured, client: secured?.client_id, server: secured?.server_id },
      { secured: true, client: mesh.identityOf("client"), server: mesh.identityOf("server") },
    );
    const insecure = rows.find((r) => r.src === "client" && r.dst === "plain");
    assert.equal(insecure?.secured, false);
    assert.match(insecure?.no_tls_reason ?? "", /not meshed/);
  }
  const table = await meshctl(["viz", "edges", "deploy", "--demo-state", statePath]);
  assert.match(table.stdout, /client\s+server\s+test\s+test\s+√/);

  // Bad input: a window under the scrape interval, an unknown name, an unreachable Prometheus.
  const short = await meshctl([
    "viz",
    "stat",
    "deploy",
    "--prometheus-url",
    url,
    "-t",
    `${SCRAPE_INTERVAL_S / 2}s`,
  ]);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /under Prometheus's scrape interval/);
  const unknown = await meshctl([
    "viz",
    "stat",
    "deploy/nope",
    "--prometheus-url",
    url,
    "-n",
    NAMESPACE,
    "-t",
    "5s",
  ]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^meshctl: deploy\/nope not found in namespace test\n$/);
});
