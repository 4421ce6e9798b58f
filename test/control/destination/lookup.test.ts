// The admin server's read-only `/endpoints` lookup against the real service: it answers what a real
// gRPC Get's first message carries, follows file edits, tells an existing Service without endpoints
// from an unknown one, and refuses bad authorities with the catalogue's codes, without leaving a
// subscription behind or stopping the service.
import assert from "node:assert/strict";
import { test } from "node:test";
import { addrsOf, adminGet, get, serviceYaml, startHarness, writeYaml } from "./harness.js";

async function lookup(
  admin: string,
  query: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await adminGet(admin, `/endpoints?${query}`);
  return { status: r.status, json: JSON.parse(r.body) as Record<string, unknown> };
}

type Endpoint = {
  ip: string;
  port: number;
  identity: string;
  weight: number;
  labels: Record<string, string>;
};

test("/endpoints answers what a Get's first message carries, and follows the files", async (t) => {
  const h = await startHarness(t, {
    "web.yaml": serviceYaml("web", "shop", [
      { address: "10.1.0.1", pod: "web-1", deployment: "web", serviceAccount: "web" },
      { address: "10.1.0.3", pod: "legacy", meshed: false },
    ]),
  });
  const authority = "web.shop.svc.cluster.local:80";
  const first = await get(t, h.client, authority).next();
  const r = await lookup(h.service.admin, `authority=${encodeURIComponent(authority)}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.authority, authority);
  assert.equal(r.json.exists, true);
  const endpoints = r.json.endpoints as Endpoint[];
  assert.deepEqual(
    endpoints.map((e) => `${e.ip}:${e.port}`),
    addrsOf(first),
  );
  const meshed = endpoints.find((e) => e.ip === "10.1.0.1");
  assert.equal(meshed?.identity, "spiffe://cluster.local/ns/shop/sa/web");
  assert.equal(meshed?.labels.pod, "web-1");
  assert.equal(meshed?.labels.service, "web");
  assert.equal(endpoints.find((e) => e.ip === "10.1.0.3")?.identity, "");

  // A short name resolves in the namespace given, as a Get's context_namespace.
  const short = await lookup(h.service.admin, "authority=web:80&namespace=shop");
  assert.equal((short.json.endpoints as Endpoint[]).length, 2);

  // No ready endpoint: the Service still exists.
  const next = h.nextLoad();
  await writeYaml(h.dir, "web.yaml", serviceYaml("web", "shop", []));
  await next;
  const empty = await lookup(h.service.admin, `authority=${encodeURIComponent(authority)}`);
  assert.deepEqual([empty.status, empty.json.exists, empty.json.endpoints], [200, true, []]);
});

test("/endpoints refuses what a Get refuses, with the code, and leaves nothing subscribed", async (t) => {
  const h = await startHarness(t, { "web.yaml": serviceYaml("web", "shop", ["10.1.0.1"]) });
  const unknown = await lookup(h.service.admin, "authority=nope.shop.svc.cluster.local:80");
  assert.deepEqual([unknown.status, unknown.json.exists, unknown.json.endpoints], [200, false, []]);

  const cases: [string, number, string][] = [
    ["", 400, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["authority=web:notaport", 400, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
    ["authority=web:80", 400, "TRELLIS_E_DESTINATION_NO_NAMESPACE"],
    ["authority=www.example.com:443", 404, "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"],
    ["authority=203.0.113.9:80", 404, "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"],
    [`authority=${"a".repeat(5000)}`, 400, "TRELLIS_E_DESTINATION_BAD_AUTHORITY"],
  ];
  for (const [query, status, code] of cases) {
    const r = await lookup(h.service.admin, query);
    assert.equal(r.status, status, query.slice(0, 40));
    assert.equal(r.json.code, code, query.slice(0, 40));
    assert.match(String(r.json.error), new RegExp(`^${code}: `));
  }
  assert.equal((await adminGet(h.service.admin, "/endpoints?authority=web.shop:80")).status, 200);
  assert.deepEqual(h.service.watchers.topics(), { endpoints: 0, profiles: 0 });
  // Only GET and HEAD, as every admin route.
  const post = await fetch(`http://${h.service.admin}/endpoints`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal((await adminGet(h.service.admin, "/ready")).status, 200);
});
