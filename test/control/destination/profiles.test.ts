// GetProfile over real gRPC: a ServiceProfile's routes, a TrafficSplit's weights in both SMI versions,
// edits pushed to open streams, and a bad edit refused (naming file and field) with the last good
// profile kept in force.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DestinationProfile } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { adminGet, getProfile, sample, serviceYaml, startHarness, writeYaml } from "./harness.js";

const PROFILE = `
apiVersion: trellis.dev/v1alpha1
kind: ServiceProfile
metadata: { name: web.shop.svc.cluster.local, namespace: shop }
spec:
  routes:
  - name: GET /books/{id}
    condition: { method: GET, pathRegex: '/books/\\d+' }
    responseClasses:
    - condition: { status: { min: 500, max: 599 } }
      isFailure: true
    isRetryable: true
    timeout: 250ms
  - name: POST /books
    condition:
      all:
      - method: POST
      - not: { pathRegex: '/admin/.*' }
  retryBudget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttl: 20s }
`;

function split(version: "v1alpha1" | "v1alpha2", weights: Record<string, string | number>): string {
  return `${JSON.stringify({
    apiVersion: `split.smi-spec.io/${version}`,
    kind: "TrafficSplit",
    metadata: { name: "web-split", namespace: "shop" },
    spec: {
      service: "web",
      backends: Object.entries(weights).map(([service, weight]) => ({ service, weight })),
    },
  })}\n`;
}

test("a ServiceProfile becomes routes, response classes, timeouts and the retry budget", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"], { clusterIP: "10.96.0.10" }),
    "profile.yaml": PROFILE,
  });
  for (const [authority, ns] of [
    ["web.shop.svc.cluster.local:80", ""],
    ["web:80", "shop"],
    ["10.96.0.10:80", ""],
  ] as const) {
    const p = await getProfile(t, h.client, authority, ns).next();
    assert.equal(p.fullyQualifiedName, "web.shop.svc.cluster.local");
    assert.equal(p.opaqueProtocol, false);
    assert.deepEqual(p.retryBudget, {
      retryRatio: 0.10000000149011612,
      minRetriesPerSecond: 5,
      ttlMs: 20_000,
    });
    assert.deepEqual(p.dstOverrides, []);
    assert.deepEqual(p.routes, [
      {
        name: "GET /books/{id}",
        condition: {
          match: {
            $case: "all",
            value: {
              matches: [
                { match: { $case: "method", value: "GET" } },
                { match: { $case: "pathRegex", value: "/books/\\d+" } },
              ],
            },
          },
        },
        responseClasses: [
          { condition: { match: { $case: "status", value: { min: 500, max: 599 } } }, isFailure: true },
        ],
        metricsLabels: { route: "GET /books/{id}" },
        isRetryable: true,
        timeoutMs: 250,
      },
      {
        name: "POST /books",
        condition: {
          match: {
            $case: "all",
            value: {
              matches: [
                { match: { $case: "method", value: "POST" } },
                { match: { $case: "not", value: { match: { $case: "pathRegex", value: "/admin/.*" } } } },
              ],
            },
          },
        },
        responseClasses: [],
        metricsLabels: { route: "POST /books" },
        isRetryable: false,
        timeoutMs: 0,
      },
    ]);
  }
});

test("without a ServiceProfile: no routes and Linkerd's default budget; an opaque port says so", async (t) => {
  const h = await startHarness(t, {
    "db.yaml": serviceYaml("db", "shop", ["10.1.0.5"], {
      ports: [{ name: "pg", port: 5432, targetPort: 5432, protocol: "opaque" }],
    }),
  });
  const p = await getProfile(t, h.client, "db.shop:5432").next();
  assert.deepEqual(p, {
    fullyQualifiedName: "db.shop.svc.cluster.local",
    opaqueProtocol: true,
    routes: [],
    retryBudget: { retryRatio: 0.20000000298023224, minRetriesPerSecond: 10, ttlMs: 10_000 },
    dstOverrides: [],
  });
  // A ServiceProfile's opaquePorts mark a port opaque too.
  const reloaded = h.nextLoad();
  await writeYaml(
    h.dir,
    "web.yaml",
    serviceYaml("web", "shop", ["10.1.0.6"]) +
      "---\napiVersion: trellis.dev/v1alpha1\nkind: ServiceProfile\nmetadata: {name: web.shop.svc.cluster.local, namespace: shop}\nspec: {opaquePorts: [7000]}\n",
  );
  await reloaded;
  assert.equal((await getProfile(t, h.client, "web.shop:7000").next()).opaqueProtocol, true);
  assert.equal((await getProfile(t, h.client, "web.shop:80").next()).opaqueProtocol, false);
  // A port the Service does not declare: Linkerd's default opaque ports (Redis here) are opaque.
  assert.equal((await getProfile(t, h.client, "web.shop:6379").next()).opaqueProtocol, true);
  // An unknown Service of the cluster still gets its FQDN and defaults.
  const unknown = await getProfile(t, h.client, "nope.shop:80").next();
  assert.equal(unknown.fullyQualifiedName, "nope.shop.svc.cluster.local");
});

test("a profile in the caller's namespace wins over the one in the Service's namespace", async (t) => {
  const clientSide = PROFILE.replace("namespace: shop", "namespace: front").replace(
    "retryRatio: 0.1",
    "retryRatio: 0.5",
  );
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"]),
    "profile.yaml": PROFILE,
    "client.yaml": clientSide,
  });
  assert.equal((await getProfile(t, h.client, "web.shop", "front").next()).retryBudget?.retryRatio, 0.5);
  assert.equal(
    (await getProfile(t, h.client, "web.shop", "back").next()).retryBudget?.retryRatio,
    0.10000000149011612,
  );
});

test("a bad edit is refused naming the file and field, the last good profile stays; a good edit is pushed", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"]),
    "profile.yaml": PROFILE,
  });
  const s = getProfile(t, h.client, "web.shop:80");
  const first = await s.next();
  assert.equal(first.routes.length, 2);

  const bad = PROFILE.replace("'/books/\\d+'", "'/books/(\\d+'").replace("timeout: 250ms", "timeout: 250 ms");
  let reloaded = h.nextLoad();
  await writeYaml(h.dir, "profile.yaml", bad);
  await reloaded;
  const [problem] = h.source.problems();
  assert.equal(problem?.code, "TRELLIS_E_DESTINATION_INVALID_PROFILE");
  assert.match(problem?.reason ?? "", /profile\.yaml/);
  assert.match(problem?.reason ?? "", /spec\.routes\[0\]\.condition\.pathRegex: invalid regular expression/);
  assert.match(problem?.reason ?? "", /spec\.routes\[0\]\.timeout: expected a duration/);
  const logged = h.log.lines().find((l) => l.code === "TRELLIS_E_DESTINATION_INVALID_PROFILE");
  assert.equal(logged?.kept, true);
  const metrics = (await adminGet(h.service.admin, "/metrics")).body;
  assert.equal(
    sample(metrics, "destination_resource_refusals_total", 'code="TRELLIS_E_DESTINATION_INVALID_PROFILE"'),
    1,
  );

  // A good edit next: the stream got nothing for the bad one, and now gets the new profile.
  reloaded = h.nextLoad();
  await writeYaml(h.dir, "profile.yaml", PROFILE.replace("timeout: 250ms", "timeout: 1s"));
  await reloaded;
  const next = await s.next((p) => p.routes[0]?.timeoutMs === 1000, 1);
  assert.equal(s.messages.length, 2);
  assert.equal(next.routes.length, 2);
  assert.deepEqual(h.source.problems(), []);
});

test("TrafficSplit v1alpha2 integer weights and v1alpha1 quantities become dst_overrides; edits are pushed", async (t) => {
  const h = await startHarness(t, {
    "svcs.yaml": [
      serviceYaml("web", "shop", ["10.1.0.1"]),
      serviceYaml("web-v1", "shop", ["10.1.1.1"]),
      serviceYaml("web-v2", "shop", ["10.1.2.1"]),
    ].join("---\n"),
    "split.yaml": split("v1alpha2", { "web-v1": 90, "web-v2": 10 }),
  });
  const s = getProfile(t, h.client, "web.shop.svc.cluster.local:80");
  const overrides = (p: DestinationProfile) => p.dstOverrides.map((d) => [d.authority, d.weight]);
  assert.deepEqual(overrides(await s.next()), [
    ["web-v1.shop.svc.cluster.local:80", 900_000],
    ["web-v2.shop.svc.cluster.local:80", 100_000],
  ]);

  await writeYaml(h.dir, "split.yaml", split("v1alpha1", { "web-v1": "900m", "web-v2": "100m" }));
  assert.deepEqual(overrides(await s.next((p) => p.dstOverrides[0]?.weight === 9000, 1)), [
    ["web-v1.shop.svc.cluster.local:80", 9000],
    ["web-v2.shop.svc.cluster.local:80", 1000],
  ]);

  // Weight 0 sends nothing: the backend is left out.
  await writeYaml(h.dir, "split.yaml", split("v1alpha1", { "web-v1": "1", "web-v2": 0 }));
  assert.deepEqual(overrides(await s.next((p) => p.dstOverrides.length === 1, 1)), [
    ["web-v1.shop.svc.cluster.local:80", 10_000],
  ]);

  // A backend without ready endpoints is left out; with none left, requests go to the apex.
  await writeYaml(h.dir, "split.yaml", split("v1alpha2", { "web-v1": 50, "web-v2": 50 }));
  await s.next((p) => p.dstOverrides.length === 2, 1);
  const from = s.messages.length;
  await writeYaml(
    h.dir,
    "svcs.yaml",
    [
      serviceYaml("web", "shop", ["10.1.0.1"]),
      serviceYaml("web-v1", "shop", []),
      serviceYaml("web-v2", "shop", ["10.1.2.1"]),
    ].join("---\n"),
  );
  assert.deepEqual(overrides(await s.next((p) => p.dstOverrides.length === 1, from)), [
    ["web-v2.shop.svc.cluster.local:80", 500_000],
  ]);
  await writeYaml(h.dir, "svcs.yaml", serviceYaml("web", "shop", ["10.1.0.1"]));
  assert.deepEqual(overrides(await s.next((p) => p.dstOverrides.length === 0, from)), []);

  // The split removed: no overrides (already none), and the stream stays open.
  await writeYaml(h.dir, "split.yaml", "");
  await h.nextLoad();
  assert.equal((await getProfile(t, h.client, "web.shop").next()).dstOverrides.length, 0);
});

test("a split with weights of the wrong type for its version is refused naming the field; the last good one stays", async (t) => {
  const h = await startHarness(t, {
    "svcs.yaml": [
      serviceYaml("web-v1", "shop", ["10.1.1.1"]),
      serviceYaml("web-v2", "shop", ["10.1.2.1"]),
    ].join("---\n"),
    "split.yaml": split("v1alpha2", { "web-v1": 1, "web-v2": 3 }),
  });
  const reloaded = h.nextLoad();
  await writeYaml(h.dir, "split.yaml", split("v1alpha2", { "web-v1": "900m", "web-v2": "100m" }));
  await reloaded;
  const [problem] = h.source.problems();
  assert.equal(problem?.code, "TRELLIS_E_DESTINATION_INVALID_SPLIT");
  assert.match(problem?.reason ?? "", /split\.yaml.*spec\.backends\[0\]\.weight: expected an integer/);
  const p = await getProfile(t, h.client, "web.shop").next();
  assert.deepEqual(
    p.dstOverrides.map((d) => d.weight),
    [10_000, 30_000],
  );
});
