// Faults on loopback through real proxies and the real destination service (local store): endpoints
// that black-hole, reset or answer too late, and a peer proxy killed with SIGKILL under load. Failure
// accrual's penalty is set far beyond the test's length, so no ejected endpoint is probed again and
// every failure the client can see is bounded by a count: consecutive failures to eject, plus the
// requests already in flight when it happened. Nothing here depends on how fast the machine is.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import {
  discoveringClient,
  put,
  serviceYaml,
  startLocalDestination,
  timeoutProfileYaml,
} from "../support/local-destination.js";
import { freePort, get, NAMESPACE, startMesh, type TestMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";

type Cleanup = { after(fn: () => unknown): void };

/** Consecutive failures that eject an endpoint, and concurrent clients: the two terms of every bound. */
const MAX_FAILURES = 3;
const WORKERS = 4;
/** Longer than any test: an ejected endpoint is not probed again while it runs. */
const PENALTY_MS = "600000";
const ACCRUAL = {
  TRELLIS_PROXY_FAILURE_ACCRUAL_CONSECUTIVE_FAILURES: String(MAX_FAILURES),
  TRELLIS_PROXY_FAILURE_ACCRUAL_MIN_PENALTY_MS: PENALTY_MS,
  TRELLIS_PROXY_FAILURE_ACCRUAL_MAX_PENALTY_MS: PENALTY_MS,
};
/**
 * Failures one bad endpoint can cause before it is out: MAX_FAILURES in a row eject it, and at that
 * moment at most WORKERS - 1 other requests can be on their way to it.
 */
const PER_BAD_ENDPOINT = MAX_FAILURES + WORKERS - 1;

/** `closed`: nothing listens on the app port, as when a pod's app has stopped before its proxy. */
type Behaviour = "healthy" | "h2c" | "black-hole" | "reset" | "slow" | "closed";

/** An app on `ip:port` that behaves as told, behind its own proxy listening on the same address. */
async function pod(t: Cleanup, mesh: TestMesh, ip: string, port: number, behaviour: Behaviour) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  if (behaviour === "closed") server = undefined;
  else if (behaviour === "h2c") {
    const app = http2.createServer((req, res) => {
      req.resume();
      res.end("ok");
    });
    const sessions = new Set<http2.ServerHttp2Session>();
    app.on("session", (session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
    t.after(() => {
      for (const session of sessions) session.destroy();
    });
    server = app;
  } else if (behaviour === "healthy" || behaviour === "slow") {
    const app = http.createServer((req, res) => {
      req.resume();
      // Far beyond the route's timeout: the answer comes after the proxy gave up on it.
      if (behaviour === "slow") setTimeout(() => res.end("late"), 30_000).unref();
      else res.end("ok");
    });
    t.after(() => app.closeAllConnections());
    server = app;
  } else {
    server = net.createServer((socket) => {
      socket.on("error", () => {});
      // A black hole reads and keeps the connection, answering nothing; the other resets it at once.
      if (behaviour === "reset") socket.resetAndDestroy();
      else {
        sockets.add(socket);
        socket.resume();
      }
    });
  }
  if (server) {
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(port, ip, resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      listening.close();
    });
  }
  const proxy = await mesh.proxy("server", {
    inboundPorts: [port],
    env: { TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${ip}:0`, TRELLIS_PROXY_INBOUND_APP_HOST: ip },
  });
  return { ip, proxy };
}

interface Tally {
  sent: number;
  ok: number;
  /** Failed requests by status (0: the connection to the client proxy failed). */
  failed: Map<number, number>;
}

/**
 * WORKERS clients sending one request after another until `done(tally)` says so or `cap` requests
 * were sent; `each` sees every answer (true for a 200).
 */
async function load(
  client: TestProxy,
  authority: string,
  cap: number,
  done: (tally: Tally) => boolean,
  each: (ok: boolean, tally: Tally) => void = () => {},
): Promise<Tally> {
  const tally: Tally = { sent: 0, ok: 0, failed: new Map() };
  const worker = async () => {
    while (tally.sent < cap && !done(tally)) {
      const n = tally.sent++;
      let status = 0;
      try {
        status = (await get(client.outbound, authority, `/r${n}`, 60_000)).status;
      } catch {}
      if (status === 200) tally.ok++;
      else tally.failed.set(status, (tally.failed.get(status) ?? 0) + 1);
      each(status === 200, tally);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return tally;
}

const failures = (tally: Tally) => [...tally.failed.values()].reduce((a, b) => a + b, 0);
const describe = (tally: Tally) =>
  `${tally.sent} sent, ${tally.ok} ok, failed by status ${JSON.stringify(Object.fromEntries(tally.failed))}`;

test("black-holed, resetting and slow endpoints cost a bounded number of requests; the rest succeed", async (t) => {
  const mesh = await startMesh(t);
  const port = await freePort();
  const pods = [
    await pod(t, mesh, "127.0.0.1", port, "healthy"),
    await pod(t, mesh, "127.0.0.2", port, "healthy"),
    await pod(t, mesh, "127.0.0.3", port, "black-hole"),
    await pod(t, mesh, "127.0.0.4", port, "reset"),
    await pod(t, mesh, "127.0.0.5", port, "slow"),
  ];
  // Both documents are in the store before the service starts: its first answer carries the timeout.
  const store = join(mesh.dir, "store");
  await mkdir(store);
  await put(join(store, "web.yaml"), serviceYaml("web", port, pods));
  await put(join(store, "web-profile.yaml"), timeoutProfileYaml("web", "500ms"));
  const destination = await startLocalDestination(t, mesh, store);
  const client = await discoveringClient(mesh, destination, ACCRUAL);
  const authority = `web.${NAMESPACE}.svc.cluster.local`;

  const bound = 3 * PER_BAD_ENDPOINT;
  const first = await load(client, authority, 300, () => false);
  assert.equal(first.sent, 300);
  assert.ok(failures(first) <= bound, `${describe(first)}: at most ${bound} may fail`);
  assert.ok((first.failed.get(504) ?? 0) >= 1, `the route's timeout cut a request off: ${describe(first)}`);
  assert.ok((first.failed.get(502) ?? 0) >= 1, `the reset reached the client as a 502: ${describe(first)}`);
  // As many requests again: the bound does not grow with the traffic, it is spent already.
  const second = await load(client, authority, 300, () => false);
  assert.ok(
    failures(first) + failures(second) <= bound,
    `after 600 requests ${failures(first) + failures(second)} failed (bound ${bound}): ${describe(second)}`,
  );
  assert.equal(second.ok + failures(second), 300);
  t.diagnostic(`first 300: ${describe(first)}; next 300: ${describe(second)}`);
});

test("a peer proxy killed with SIGKILL under load: a bounded number of requests fail, then traffic is all on the other", async (t) => {
  const mesh = await startMesh(t);
  const port = await freePort();
  const a = await pod(t, mesh, "127.0.0.1", port, "healthy");
  const b = await pod(t, mesh, "127.0.0.2", port, "healthy");
  const store = join(mesh.dir, "store");
  await mkdir(store);
  await put(join(store, "web.yaml"), serviceYaml("web", port, [a, b]));
  const destination = await startLocalDestination(t, mesh, store);
  const client = await discoveringClient(mesh, destination, ACCRUAL);
  const authority = `web.${NAMESPACE}.svc.cluster.local`;
  assert.equal((await get(client.outbound, authority, "/warm")).status, 200);

  // Kill b's proxy after 100 answers under load; the store still lists it, as Kubernetes would until
  // it notices. Stop once 200 requests in a row succeeded after the kill (bounded by a total count).
  let killed: Promise<unknown> | undefined;
  let failedAfterKill = 0;
  let streak = 0;
  const tally = await load(
    client,
    authority,
    5000,
    () => streak >= 200,
    (ok, tally) => {
      if (!killed && tally.ok >= 100) {
        b.proxy.child.process.kill("SIGKILL");
        killed = b.proxy.child.exited;
        streak = 0;
        return;
      }
      if (!killed) {
        assert.ok(ok, `a request failed before the kill: ${describe(tally)}`);
        return;
      }
      if (ok) streak++;
      else {
        failedAfterKill++;
        streak = 0;
      }
    },
  );
  assert.equal(await killed, "SIGKILL");
  assert.ok(streak >= 200, `traffic did not recover within 5000 requests: ${describe(tally)}`);
  // The requests in flight on the killed connection, plus the ones that met a refused connect until
  // MAX_FAILURES in a row took it out.
  assert.ok(
    failedAfterKill <= PER_BAD_ENDPOINT + 1,
    `${failedAfterKill} requests failed (bound ${PER_BAD_ENDPOINT + 1}): ${describe(tally)}`,
  );
  assert.equal(a.proxy.child.running, true);
  t.diagnostic(`${failedAfterKill} failed after the kill; ${describe(tally)}`);
});

/** A POST with a small body through the client proxy: its status, or 0 when the request failed. */
function post(outbound: string, authority: string, path: string): Promise<number> {
  const i = outbound.lastIndexOf(":");
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: outbound.slice(0, i),
        port: Number(outbound.slice(i + 1)),
        method: "POST",
        path,
        headers: { host: authority },
        timeout: 60_000,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
    req.end("order=1");
  });
}

test("an endpoint whose app stopped listening and one whose proxy is gone cost no request without a body: it goes to another endpoint", async (t) => {
  const mesh = await startMesh(t);
  const port = await freePort();
  const healthy = await pod(t, mesh, "127.0.0.1", port, "healthy");
  const stopping = await pod(t, mesh, "127.0.0.2", port, "closed");
  const gone = await pod(t, mesh, "127.0.0.3", port, "healthy");
  gone.proxy.child.process.kill("SIGKILL");
  await gone.proxy.child.exited;
  const store = join(mesh.dir, "store");
  await mkdir(store);
  await put(join(store, "web.yaml"), serviceYaml("web", port, [healthy, stopping, gone]));
  const destination = await startLocalDestination(t, mesh, store);
  const authority = `web.${NAMESPACE}.svc.cluster.local`;

  // The two bad endpoints are still listed, as during a rollout before the EndpointSlices change.
  const client = await discoveringClient(mesh, destination, ACCRUAL);
  const gets = await load(client, authority, 300, () => false);
  assert.equal(gets.ok, 300, describe(gets));
  // The stopping pod's proxy was asked and refused the requests its app could not take.
  const refused = sum(await stopping.proxy.metrics(), "response_total", {
    direction: "inbound",
    classification: "failure",
  });
  assert.ok(refused >= 1, "no request reached the endpoint whose app stopped listening");

  // A request with a body is not sent again (its body may be read already): it gets the 502.
  const fresh = await discoveringClient(mesh, destination, ACCRUAL);
  const statuses: number[] = [];
  for (let n = 0; n < 60; n++) statuses.push(await post(fresh.outbound, authority, `/p${n}`));
  const failed = statuses.filter((s) => s !== 200);
  assert.ok(failed.length >= 1, `no POST met a bad endpoint: ${statuses.join(",")}`);
  assert.ok(
    failed.every((s) => s === 502),
    `failures other than 502: ${failed.join(",")}`,
  );
  assert.ok(failed.length <= 2 * PER_BAD_ENDPOINT, `${failed.length} POSTs failed`);
  t.diagnostic(
    `${describe(gets)}; ${refused} refused by the stopping pod; POSTs failed: ${failed.length}/60`,
  );
});

test("over HTTP/2 too: a stopping pod's proxy refuses the stream, and the request goes to another endpoint", async (t) => {
  const mesh = await startMesh(t);
  const port = await freePort();
  const healthy = await pod(t, mesh, "127.0.0.1", port, "h2c");
  const stopping = await pod(t, mesh, "127.0.0.2", port, "closed");
  const store = join(mesh.dir, "store");
  await mkdir(store);
  await put(join(store, "web.yaml"), serviceYaml("web", port, [healthy, stopping]));
  const destination = await startLocalDestination(t, mesh, store);
  const client = await discoveringClient(mesh, destination, ACCRUAL);
  const authority = `web.${NAMESPACE}.svc.cluster.local:${port}`;
  const session = http2.connect(`http://${client.outbound}`);
  t.after(() => session.destroy());
  const statuses: number[] = [];
  for (let n = 0; n < 100; n++) {
    statuses.push(
      await new Promise<number>((resolve) => {
        const req = session.request({ ":path": `/h${n}`, ":authority": authority });
        let status = 0;
        req.on("response", (h) => {
          status = Number(h[":status"]);
        });
        req.on("error", () => resolve(0));
        req.on("close", () => resolve(status));
        req.resume();
      }),
    );
  }
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
  );
  const refused = sum(await stopping.proxy.metrics(), "response_total", {
    direction: "inbound",
    classification: "failure",
  });
  assert.ok(refused >= 1, "no request reached the endpoint whose app stopped listening");
  t.diagnostic(`100 HTTP/2 requests, all 200; ${refused} refused by the stopping pod`);
});
