// meshctl viz as a user runs it: bad input first (one line, exit 2 or 1), then against a real
// `meshctl demo --headless` found through its state file: workloads, a TrafficSplit whose rows
// follow its weights as the user edits them, edges over mTLS, ServiceProfile routes with [DEFAULT].
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { meshctl } from "../support/meshctl.js";
import { freePort } from "../support/ports.js";
import { bin, exitWithin, startNode } from "../support/process.js";

const oneLine = (stderr: string) => assert.match(stderr, /^meshctl: [^\n]+\n$/, `one line: ${stderr}`);

test("meshctl viz: bad input gets one line and exit 2 (usage) or 1 (failure)", async (t) => {
  const runtime = await mkdtemp(join(tmpdir(), "trellis-viz-runtime-"));
  t.after(() => rm(runtime, { recursive: true, force: true }));
  // No kubeconfig anywhere: HOME without ~/.kube, no KUBECONFIG.
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, HOME: runtime, KUBECONFIG: "" };
  const cases: [string[], number, RegExp][] = [
    [["viz", "stat", "widgets", "--demo"], 2, /unknown resource kind "widgets"/],
    [
      ["viz", "stat", "deploy"],
      1,
      /no Kubernetes API server configured.*a kubeconfig \(--kubeconfig\), a Prometheus \(--prometheus-url URL\) or a running meshctl demo \(--demo\)/,
    ],
    [["viz", "stat", "deploy", "--demo", "--direct"], 2, /--direct scrapes a cluster's pods/],
    [["viz", "check"], 1, /cannot load the kubeconfig: no Kubernetes API server configured/],
    [["viz", "edges", "svc", "--demo"], 2, /edges are between workloads/],
    [["viz", "stat", "deploy", "--demo", "-t", "soon"], 2, /not a duration/],
    [["viz", "stat", "deploy", "--demo"], 1, /no meshctl demo is running/],
    [["viz", "dashboard", "--demo"], 1, /needs a terminal; in a script, use/],
    [["viz", "routes", "deploy/web", "--demo"], 1, /no meshctl demo is running/],
    [["viz", "stat", "deploy", "--prometheus-url", `http://127.0.0.1:${await freePort()}`], 1, /unreachable/],
  ];
  for (const [args, code, message] of cases) {
    const run = await meshctl(args, { env });
    assert.equal(run.code, code, `${args.join(" ")}: ${run.stderr}`);
    oneLine(run.stderr);
    assert.match(run.stderr, message);
    assert.equal(run.stdout, "");
  }
});

interface Row {
  name: string;
  /** A TrafficSplit row's backend. */
  leaf?: string;
  meshed?: string;
  weight?: number;
  rps: number;
  success: number | null;
}

test("meshctl viz --demo against a real demo: stat, a TrafficSplit following its weights, edges, routes", async (t) => {
  const runtime = await mkdtemp(join(tmpdir(), "trellis-viz-runtime-"));
  t.after(() => rm(runtime, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
  const demo = startNode(t, bin("meshctl"), ["demo", "--headless", "--duration", "170"], {
    XDG_RUNTIME_DIR: runtime,
  });
  const stateLine = await demo.waitForLine((l) => l.includes('"state"'), 60_000);
  const statePath = (JSON.parse(stateLine) as { state: string }).state;
  assert.equal(statePath, join(runtime, "trellis", "demos", `${demo.process.pid}.json`));
  const state = JSON.parse(await readFile(statePath, "utf8")) as { storeDir: string; proxies: unknown[] };
  assert.equal(state.proxies.length, 5);
  const viz = async (...args: string[]) => {
    const run = await meshctl(["viz", ...args, "--demo", "-o", "json"], { env });
    assert.equal(run.code, 0, `${args.join(" ")}: ${run.stderr}`);
    return JSON.parse(run.stdout) as Row[];
  };

  const workloads = await viz("stat", "deploy", "-t", "4s");
  assert.deepEqual(
    workloads.map((r) => [r.name, r.meshed]),
    ["authors", "books", "books-v2", "traffic", "web"].map((n) => [n, "1/1"]),
  );
  assert.ok((workloads.find((r) => r.name === "web")?.rps ?? 0) > 3, "traffic calls web ~10 times a second");

  const unknown = await meshctl(["viz", "stat", "deploy/nope", "--demo", "-t", "1s"], { env });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^meshctl: deploy\/nope not found in namespace demo\n$/);

  // The split's rows: each backend with its weight and its share of the traffic.
  const share = (rows: Row[]) => {
    const v2 = rows.find((r) => r.leaf === "books-v2")?.rps ?? 0;
    const all = rows.reduce((n, r) => n + r.rps, 0);
    return all > 0 ? v2 / all : 0;
  };
  const before = await viz("stat", "trafficsplit/books-canary", "-t", "8s");
  assert.deepEqual(
    before.map((r) => [r.name, r.leaf, r.weight]),
    [
      ["books-canary", "books-stable", 0.9],
      ["books-canary", "books-v2", 0.1],
    ],
  );
  assert.ok(share(before) > 0.01 && share(before) < 0.3, `books-v2 gets about 10 %: ${share(before)}`);

  // The user edits the weights in the store's split file; the rows follow.
  const split = join(state.storeDir, "books-canary.yaml");
  await writeFile(split, (await readFile(split, "utf8")).replace(/weight: \d+/g, "weight: 50"));
  // The next windows' traffic follows the new weights once the destination service has read them.
  let after: Row[] = [];
  for (let i = 0; i < 4; i++) {
    after = await viz("stat", "trafficsplit", "-t", "8s");
    if (share(after) > 0.3) break;
  }
  assert.deepEqual(
    after.map((r) => r.weight),
    [0.5, 0.5],
  );
  assert.ok(share(after) > 0.3 && share(after) < 0.7, `books-v2 gets about half: ${share(after)}`);

  const edges = JSON.parse(
    (await meshctl(["viz", "edges", "deploy", "--demo", "-o", "json"], { env })).stdout,
  ) as {
    src: string;
    dst: string;
    secured: boolean;
    client_id: string;
    server_id: string;
  }[];
  const trafficToWeb = edges.find((e) => e.src === "traffic" && e.dst === "web");
  assert.deepEqual(trafficToWeb && [trafficToWeb.secured, trafficToWeb.client_id, trafficToWeb.server_id], [
    true,
    "spiffe://cluster.local/ns/demo/sa/traffic",
    "spiffe://cluster.local/ns/demo/sa/web",
  ]);
  assert.ok(
    edges.every((e) => e.secured),
    "every demo hop is mTLS",
  );

  // A ServiceProfile for authors: one of the four paths web forwards matches a route; the rest is [DEFAULT].
  await writeFile(
    join(state.storeDir, "authors-profile.yaml"),
    `${JSON.stringify({
      apiVersion: "trellis.dev/v1alpha1",
      kind: "ServiceProfile",
      metadata: { name: "authors.demo.svc.cluster.local", namespace: "demo" },
      spec: {
        routes: [{ name: "GET /books/{id}", condition: { method: "GET", pathRegex: "/books/\\d+" } }],
      },
    })}\n`,
  );
  let routes: { route: string; service: string; rps: number }[] = [];
  for (let i = 0; i < 4; i++) {
    routes = (await viz("routes", "svc/authors", "-t", "6s")) as unknown as typeof routes;
    if (routes.some((r) => r.route === "GET /books/{id}" && r.rps > 0)) break;
  }
  const routed = routes.find((r) => r.route === "GET /books/{id}");
  const fallback = routes.find((r) => r.route === "[DEFAULT]");
  assert.ok(routed && routed.rps > 0, `the route counts its requests: ${JSON.stringify(routes)}`);
  assert.ok(fallback && fallback.rps > routed.rps, "three of four paths match no route");

  demo.process.kill("SIGTERM");
  assert.equal(await exitWithin(demo, 30_000), 0);
  assert.equal(existsSync(statePath), false, "the demo removes its state file when it stops");
  const gone = await meshctl(["viz", "stat", "deploy", "--demo"], { env });
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no meshctl demo is running/);
});
