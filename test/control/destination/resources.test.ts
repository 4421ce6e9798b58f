// The parsers on their own: every ServiceProfile and TrafficSplit problem is named by file and field,
// all at once; SMI quantities; garbage YAML and unknown kinds; authorities in every form.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAuthority } from "../../../control/destination/names.js";
import { parseResource, parseResources } from "../../../control/destination/resources.js";
import { MAX_CONDITION_DEPTH } from "../../../control/destination/validate.js";
import { parseQuantityMilli } from "../../../lib/quantity.js";

const FILE = "/mesh/profiles.yaml";

function profileProblems(spec: string, name = "web.shop.svc.cluster.local"): string {
  const parsed = parseResources(
    `apiVersion: trellis.dev/v1alpha1\nkind: ServiceProfile\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${spec}`,
    FILE,
    "cluster.local",
  );
  assert.equal(parsed.resources.length, 0, "expected a refusal");
  const [p] = parsed.problems;
  assert.equal(p?.code, "TRELLIS_E_DESTINATION_INVALID_PROFILE");
  assert.equal(p?.kind, "ServiceProfile");
  assert.equal(p?.key, `shop/${name}`);
  assert.ok(p?.reason.startsWith(`${FILE} (document 1): ServiceProfile shop/${name}: `), p?.reason);
  return p?.reason ?? "";
}

test("ServiceProfile problems name the field: regex, durations, status ranges, missing and unknown fields", () => {
  assert.match(
    profileProblems("  routes:\n  - {name: r, condition: {pathRegex: '/a/(b'}}"),
    /spec\.routes\[0\]\.condition\.pathRegex: invalid regular expression "\/a\/\(b"/,
  );
  assert.match(
    profileProblems("  routes:\n  - {name: r, condition: {method: GET}, timeout: 10 seconds}"),
    /spec\.routes\[0\]\.timeout: expected a duration such as 250ms, 10s or 1m, got "10 seconds"/,
  );
  const statuses = profileProblems(
    "  routes:\n  - name: r\n    condition: {method: GET}\n    responseClasses:\n    - {condition: {status: {min: 99, max: 700}}}\n    - {condition: {status: {min: 500, max: 400}}}\n    - {isFailure: true}",
  );
  assert.match(
    statuses,
    /responseClasses\[0\]\.condition\.status\.min: expected an integer in 100\.\.599, got 99/,
  );
  assert.match(
    statuses,
    /responseClasses\[0\]\.condition\.status\.max: expected an integer in 100\.\.599, got 700/,
  );
  assert.match(statuses, /responseClasses\[1\]\.condition\.status: max 400 is below min 500/);
  assert.match(statuses, /responseClasses\[2\]\.condition: required/);
  assert.match(
    profileProblems("  routes:\n  - {condition: {}}"),
    /spec\.routes\[0\]\.name: required.*condition: expected at least one/,
  );
  assert.match(
    profileProblems("  routes:\n  - {name: r, condition: {method: GET, header: x}}"),
    /condition\.header: unknown field/,
  );
  assert.match(
    profileProblems("  retryBudget: {retryRatio: -1, minRetriesPerSecond: 1.5}"),
    /retryRatio: expected a number >= 0.*minRetriesPerSecond: expected an integer.*spec\.retryBudget\.ttl: expected a duration/,
  );
  assert.match(
    profileProblems("  routes: []", "web.shop"),
    /metadata\.name: expected the Service's fully qualified name/,
  );
  assert.match(profileProblems("  routez: []"), /spec\.routez: unknown field/);
});

test("a valid ServiceProfile parses: several condition fields mean all of them, durations in ms", () => {
  const parsed = parseResources(
    `apiVersion: trellis.dev/v1alpha1
kind: ServiceProfile
metadata: {name: web.shop.svc.cluster.local, namespace: front}
spec:
  routes:
  - name: r
    condition: {method: get, pathRegex: '/x'}
    responseClasses: [{condition: {any: [{status: {min: 500}}, {not: {status: {max: 399}}}]}, isFailure: true}]
    timeout: 1m30s
  retryBudget: {retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 10s}
`,
    FILE,
    "cluster.local",
  );
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.resources[0]?.value, {
    namespace: "front",
    name: "web.shop.svc.cluster.local",
    routes: [
      {
        name: "r",
        condition: { all: [{ method: "GET" }, { pathRegex: "/x" }] },
        responseClasses: [
          {
            condition: {
              any: [{ status: { min: 500, max: 500 } }, { not: { status: { min: 399, max: 399 } } }],
            },
            isFailure: true,
          },
        ],
        isRetryable: false,
        timeoutMs: 90_000,
      },
    ],
    retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
    opaquePorts: [],
  });
});

test("a ServiceProfile from the Kubernetes API with conditions nested thousands deep is refused, not a stack overflow", () => {
  let request: unknown = { method: "GET" };
  let response: unknown = { status: { min: 500 } };
  for (let i = 0; i < 20_000; i++) {
    request = { not: request };
    response = { any: [response] };
  }
  const profile = (condition: unknown, responseClass: unknown) => ({
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: "web.shop.svc.cluster.local", namespace: "shop" },
    spec: { routes: [{ name: "r", condition, responseClasses: [{ condition: responseClass }] }] },
  });
  const r = parseResource(profile(request, { status: { min: 500 } }), "k8s", "cluster.local");
  assert.ok(
    "problem" in r && /condition(\.not)+: conditions nest more than 32 levels deep/.test(r.problem.reason),
  );
  const s = parseResource(profile({ method: "GET" }, response), "k8s", "cluster.local");
  assert.ok("problem" in s && /nest more than 32 levels deep/.test(s.problem.reason));
  // As deep as allowed still parses.
  let deepest: unknown = { method: "GET" };
  for (let i = 0; i < MAX_CONDITION_DEPTH; i++) deepest = { not: deepest };
  assert.ok("resource" in parseResource(profile(deepest, { status: { min: 500 } }), "k8s", "cluster.local"));
});

test("TrafficSplit: v1alpha1 takes quantities, v1alpha2 integers; the wrong type is refused naming the field", () => {
  const doc = (version: string, weights: unknown[]) =>
    `apiVersion: split.smi-spec.io/${version}\nkind: TrafficSplit\nmetadata: {name: s, namespace: shop}\nspec:\n  service: web\n  backends:\n${weights.map((w, i) => `  - {service: b${i}, weight: ${JSON.stringify(w)}}`).join("\n")}\n`;
  const ok1 = parseResources(doc("v1alpha1", ["900m", "0.1", 1, "1k"]), FILE, "cluster.local");
  assert.deepEqual(ok1.problems, []);
  assert.deepEqual(
    ok1.resources[0]?.kind === "TrafficSplit" && ok1.resources[0].value.backends.map((b) => b.weight),
    [9000, 1000, 10_000, 10_000_000],
  );
  const ok2 = parseResources(doc("v1alpha2", [90, 10, 0]), FILE, "cluster.local");
  assert.deepEqual(
    ok2.resources[0]?.kind === "TrafficSplit" && ok2.resources[0].value.backends.map((b) => b.weight),
    [900_000, 100_000, 0],
  );
  const bad2 = parseResources(doc("v1alpha2", ["900m", 1.5, -1]), FILE, "cluster.local").problems[0];
  assert.equal(bad2?.code, "TRELLIS_E_DESTINATION_INVALID_SPLIT");
  assert.match(
    bad2?.reason ?? "",
    /backends\[0\]\.weight: expected an integer.*backends\[1\]\.weight.*backends\[2\]\.weight/,
  );
  const bad1 = parseResources(doc("v1alpha1", ["lots", "-1"]), FILE, "cluster.local").problems[0];
  assert.match(
    bad1?.reason ?? "",
    /backends\[0\]\.weight: expected a quantity such as 1, 900m or 0\.5 \(v1alpha1\), got "lots"/,
  );
  const zero = parseResources(doc("v1alpha2", [0, 0]), FILE, "cluster.local").problems[0];
  assert.match(zero?.reason ?? "", /spec\.backends: every weight is 0/);
  assert.equal(parseQuantityMilli("1500m"), 1500);
  assert.equal(parseQuantityMilli("1.5"), 1500);
  assert.equal(parseQuantityMilli("1e3"), undefined);
});

test("garbage YAML, unknown kinds and broken documents are refused by file; good documents beside them load", () => {
  const yaml = parseResources("a: [1, 2\nb: {", FILE, "cluster.local");
  assert.equal(yaml.yamlOk, false);
  assert.equal(yaml.problems[0]?.code, "TRELLIS_E_DESTINATION_BAD_YAML");
  assert.match(yaml.problems[0]?.reason ?? "", /^\/mesh\/profiles\.yaml: /);
  const mixed = parseResources(
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n- just a list\n---\napiVersion: local.trellis.dev/v1\nkind: Service\nmetadata: {namespace: shop}\n---\napiVersion: local.trellis.dev/v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  endpoints: [{address: not-an-ip}, {address: 10.0.0.1, weight: -3}]\n---\napiVersion: local.trellis.dev/v1\nkind: Service\nmetadata: {name: ok, namespace: shop}\nspec: {endpoints: [{address: "::1"}]}\n`,
    FILE,
    "cluster.local",
  );
  assert.deepEqual(
    mixed.problems.map((p) => p.reason.replace(/;.*/, "")),
    [
      '/mesh/profiles.yaml (document 1): unknown apiVersion/kind "v1"/"ConfigMap"',
      "/mesh/profiles.yaml (document 2): expected a mapping with apiVersion, kind, metadata and spec",
      "/mesh/profiles.yaml (document 3): Service: metadata.name: required",
      "/mesh/profiles.yaml (document 4): Service shop/web: spec.endpoints[0].address: expected an IP address, got not-an-ip",
    ],
  );
  assert.match(mixed.problems[3]?.reason ?? "", /spec\.endpoints\[1\]\.weight: expected an integer/);
  assert.deepEqual(
    mixed.resources.map((r) => r.value.name),
    ["ok"],
  );
});

test("a YAML alias that names no anchor, or that would expand without bound, is refused as bad YAML, not thrown", () => {
  const laughs = [
    "a: &a [1]",
    ..."bcdef".split("").map((k, i) => `${k}: &${k} [${Array(10).fill(`*${"abcde"[i]}`).join(", ")}]`),
  ];
  for (const [text, reason] of [
    ["apiVersion: *nowhere\n", /Unresolved alias/],
    [`${laughs.join("\n")}\n`, /Excessive alias count/],
  ] as const) {
    const parsed = parseResources(text, FILE, "cluster.local");
    assert.equal(parsed.yamlOk, false);
    assert.equal(parsed.problems[0]?.code, "TRELLIS_E_DESTINATION_BAD_YAML");
    assert.match(parsed.problems[0]?.reason ?? "", reason);
    assert.ok(parsed.problems[0]?.reason.startsWith(`${FILE}: `));
  }
});

test("an apiVersion or label value that is a mapping with its own toString is refused, not thrown", () => {
  const kind = parseResources("apiVersion: {toString: false}\nkind: Service\n", FILE, "cluster.local");
  assert.match(kind.problems[0]?.reason ?? "", /unknown apiVersion\/kind \{"toString":false\}\/"Service"/);
  const label = parseResources(
    "apiVersion: local.trellis.dev/v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  endpoints: [{address: 10.0.0.1, labels: {zone: {toString: 1}}}]\n",
    FILE,
    "cluster.local",
  );
  assert.match(label.problems[0]?.reason ?? "", /spec\.endpoints\[0\]\.labels\.zone: expected a string/);
  const list = parseResources(
    "apiVersion: [local.trellis.dev/v1]\nkind: Service\nmetadata: {name: web}\n",
    FILE,
    "cluster.local",
  );
  assert.match(list.problems[0]?.reason ?? "", /unknown apiVersion\/kind/);
});

test("authorities: every service name form, ports, IPs, and what is refused", () => {
  const p = (a: string, ns = "ctx") => parseAuthority(a, ns, "cluster.local");
  const web = (namespace: string, port = 80) => ({ kind: "service", namespace, name: "web", port });
  assert.deepEqual(p("web"), web("ctx"));
  assert.deepEqual(p("web:8080"), web("ctx", 8080));
  assert.deepEqual(p("web.shop"), web("shop"));
  assert.deepEqual(p("web.shop.svc:81"), web("shop", 81));
  assert.deepEqual(p("web.shop.svc.cluster.local"), web("shop"));
  assert.deepEqual(p("web.shop.svc.cluster.local.:443"), web("shop", 443));
  assert.deepEqual(p("10.0.0.1:80"), { kind: "ip", ip: "10.0.0.1", port: 80 });
  assert.deepEqual(p("[fd00::1]:80"), { kind: "ip", ip: "fd00::1", port: 80 });
  assert.deepEqual(p("fd00::1"), { kind: "ip", ip: "fd00::1", port: 80 });
  const code = (a: string, ns = "ctx") => {
    const r = p(a, ns);
    return "ok" in r ? r.code : "parsed";
  };
  assert.equal(code("web", ""), "TRELLIS_E_DESTINATION_NO_NAMESPACE");
  assert.equal(code("web.shop.svc.other.domain"), "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER");
  assert.equal(code("a.b.c"), "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER");
  for (const bad of [
    "",
    ":80",
    "web:",
    "web:0",
    "web:65536",
    "web:-1",
    "web:80:80",
    "web_1.shop",
    "-web.shop",
    "[::1",
    "w/eb",
  ])
    assert.equal(code(bad), "TRELLIS_E_DESTINATION_BAD_AUTHORITY", bad);
});
