/**
 * Fuzzing the destination service's resource validation (control/destination/resources.ts and
 * validate.ts), what an operator's YAML or any object in the Kubernetes API reaches:
 *
 * - valid Services, ServiceProfiles and TrafficSplits, written as YAML, parse into exactly the model
 *   they describe (decode∘encode = id);
 * - the same documents with one field replaced by a value of any type, removed, or joined by an
 *   unknown one are either valid or refused with the kind's code, naming the file and the field;
 * - any text and any decoded object is parsed without throwing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { parseResource, parseResources } from "../../control/destination/resources.js";
import { budget, corpus, hostile } from "./support.js";

const FILE = "/mesh/fuzz.yaml";
const DOMAIN = "cluster.local";
type Doc = Record<string, unknown>;

const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const port = fc.integer({ min: 1, max: 65535 });
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."));

/** A valid document and the model it must parse into. */
interface Case {
  doc: Doc;
  kind: "Service" | "ServiceProfile" | "TrafficSplit";
  want: unknown;
}

const serviceCase: fc.Arbitrary<Case> = fc
  .record({
    name: label,
    namespace: label,
    clusterIP: fc.option(ipv4, { nil: undefined }),
    ports: fc.uniqueArray(fc.record({ port, targetPort: port, opaque: fc.boolean() }), {
      selector: (p) => p.port,
      maxLength: 3,
    }),
    endpoints: fc.uniqueArray(
      fc.record({
        address: ipv4,
        serviceAccount: label,
        ready: fc.boolean(),
        weight: fc.nat(0xffffffff),
        inboundPort: port,
        deployment: fc.option(label, { nil: undefined }),
      }),
      { selector: (e) => e.address, maxLength: 3 },
    ),
  })
  .map((s) => ({
    kind: "Service",
    doc: {
      apiVersion: "local.trellis.dev/v1",
      kind: "Service",
      metadata: { name: s.name, namespace: s.namespace },
      spec: {
        ...(s.clusterIP && { clusterIP: s.clusterIP }),
        ports: s.ports.map((p) => ({
          port: p.port,
          targetPort: p.targetPort,
          protocol: p.opaque ? "opaque" : "http",
        })),
        endpoints: s.endpoints,
      },
    },
    want: {
      namespace: s.namespace,
      name: s.name,
      ...(s.clusterIP && { clusterIP: s.clusterIP }),
      ports: s.ports.map((p) => ({
        name: String(p.port),
        port: p.port,
        targetPort: p.targetPort,
        protocol: p.opaque ? "opaque" : "http",
      })),
      endpoints: s.endpoints.map((e) => ({
        ip: e.address,
        ready: e.ready,
        meshed: true,
        serviceAccount: e.serviceAccount,
        pod: e.address,
        ...(e.deployment && { owner: { kind: "deployment", name: e.deployment } }),
        weight: e.weight,
        inboundPort: e.inboundPort,
        labels: {},
      })),
    },
  }));

const profileCase: fc.Arbitrary<Case> = fc
  .record({
    svc: label,
    namespace: label,
    routes: fc.array(
      fc.record({
        name: label,
        method: fc.constantFrom("GET", "POST", "DELETE"),
        path: fc.stringMatching(/^\/[a-z0-9/]{0,10}$/),
        timeoutS: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
        retryable: fc.boolean(),
        failAbove: fc.integer({ min: 100, max: 599 }),
      }),
      { maxLength: 3 },
    ),
    opaquePorts: fc.array(port, { maxLength: 3 }),
  })
  .map((p) => {
    const name = `${p.svc}.${p.namespace}.svc.${DOMAIN}`;
    return {
      kind: "ServiceProfile",
      doc: {
        apiVersion: "trellis.dev/v1alpha1",
        kind: "ServiceProfile",
        metadata: { name, namespace: p.namespace },
        spec: {
          routes: p.routes.map((r) => ({
            name: r.name,
            condition: { method: r.method, pathRegex: r.path },
            responseClasses: [{ condition: { status: { min: r.failAbove } }, isFailure: true }],
            isRetryable: r.retryable,
            ...(r.timeoutS !== undefined && { timeout: `${r.timeoutS}s` }),
          })),
          opaquePorts: p.opaquePorts,
        },
      },
      want: {
        namespace: p.namespace,
        name,
        routes: p.routes.map((r) => ({
          name: r.name,
          condition: { all: [{ method: r.method }, { pathRegex: r.path }] },
          responseClasses: [
            { condition: { status: { min: r.failAbove, max: r.failAbove } }, isFailure: true },
          ],
          isRetryable: r.retryable,
          ...(r.timeoutS !== undefined && { timeoutMs: r.timeoutS * 1000 }),
        })),
        opaquePorts: p.opaquePorts,
      },
    };
  });

const splitCase: fc.Arbitrary<Case> = fc
  .record({
    name: label,
    namespace: label,
    service: label,
    backends: fc.array(fc.record({ service: label, weight: fc.integer({ min: 1, max: 1000 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
  })
  .map((s) => ({
    kind: "TrafficSplit",
    doc: {
      apiVersion: "split.smi-spec.io/v1alpha2",
      kind: "TrafficSplit",
      metadata: { name: s.name, namespace: s.namespace },
      spec: { service: s.service, backends: s.backends },
    },
    want: {
      namespace: s.namespace,
      name: s.name,
      service: s.service,
      backends: s.backends.map((b) => ({ service: b.service, weight: b.weight * 10_000 })),
    },
  }));

const anyCase = fc.oneof(serviceCase, profileCase, splitCase);

test("valid resources written as YAML parse into the model they describe", (t) => {
  fc.assert(
    fc.property(anyCase, ({ doc, kind, want }) => {
      const parsed = parseResources(stringify(doc), FILE, DOMAIN);
      assert.deepEqual(parsed.problems, []);
      assert.deepEqual(parsed.resources, [{ kind, value: want }]);
    }),
    budget(t, 150),
  );
});

/** A path into a document: keys and list indexes. */
type Path = (string | number)[];

function paths(v: unknown, at: Path = []): Path[] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (typeof v === "object" && v !== null)
    return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return [at];
}

/** How the checker names the field at `path`, up to its first two levels (`spec.routes[0]`). */
function named(path: Path): string {
  if (path[0] === "apiVersion" || path[0] === "kind") return "apiVersion/kind";
  let out = "";
  for (const part of path.slice(0, 3))
    out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${part}`;
  return out.replace(/\[\d+\]$/, "");
}

type Edit = { op: "set"; value: unknown } | { op: "delete" } | { op: "add"; key: string };
const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("set" as const), value: fc.jsonValue({ maxDepth: 2 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "delete" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      key: fc.constantFrom("bogus", "Name", "ports "),
    }),
  },
);

function applyEdit(doc: Doc, path: Path, e: Edit): Doc {
  const copy = structuredClone(doc);
  if (path.length === 0) return copy;
  let parent: Record<string | number, unknown> = copy;
  for (const part of path.slice(0, -1)) parent = parent[part] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (e.op === "set") parent[last] = e.value;
  else if (e.op === "delete" && Array.isArray(parent)) parent.splice(last as number, 1);
  else if (e.op === "delete") delete parent[last];
  else if (typeof parent[last] === "object" && parent[last] !== null && !Array.isArray(parent[last]))
    (parent[last] as Doc)[e.key] = 1;
  return copy;
}

const CODES = {
  Service: "TRELLIS_E_DESTINATION_INVALID_SERVICE",
  ServiceProfile: "TRELLIS_E_DESTINATION_INVALID_PROFILE",
  TrafficSplit: "TRELLIS_E_DESTINATION_INVALID_SPLIT",
};

test("a field replaced, removed or added: valid, or refused with the kind's code naming file and field", (t) => {
  const edited = anyCase.chain((c) =>
    fc.tuple(fc.constant(c), fc.constantFrom(...paths(c.doc).filter((p) => p.length > 0)), edit),
  );
  fc.assert(
    fc.property(edited, ([c, path, e]) => {
      const doc = applyEdit(c.doc, path, e);
      const parsed = parseResources(stringify(doc), FILE, DOMAIN);
      assert.ok(parsed.yamlOk);
      assert.equal(parsed.resources.length + parsed.problems.length, 1);
      const [problem] = parsed.problems;
      if (!problem) return;
      assert.ok(problem.reason.startsWith(`${FILE} (document 1): `), problem.reason);
      const field = named(path);
      if (problem.code !== "TRELLIS_E_DESTINATION_BAD_RESOURCE") {
        assert.equal(problem.code, CODES[c.kind]);
        assert.equal(problem.kind, c.kind);
      }
      assert.ok(
        problem.reason.includes(field) ||
          (field.startsWith("metadata") && problem.reason.includes("metadata")),
        `${JSON.stringify(path)} ${JSON.stringify(e)}: ${problem.reason}`,
      );
    }),
    budget(t, 300),
  );
});

test("any text, and any object from the Kubernetes API, is parsed without throwing", (t) => {
  const text = hostile(
    anyCase.map((c) => Buffer.from(stringify(c.doc))),
    300,
  ).map((b) => b.toString("utf8"));
  fc.assert(
    fc.property(text, (s) => {
      const parsed = parseResources(s, FILE, DOMAIN);
      if (!parsed.yamlOk) assert.equal(parsed.problems[0]?.code, "TRELLIS_E_DESTINATION_BAD_YAML");
      for (const p of parsed.problems) assert.ok(p.reason.startsWith(FILE), p.reason);
    }),
    budget(t, 200),
  );
  fc.assert(
    fc.property(anyCase, fc.anything({ maxDepth: 4 }), fc.nat(), (c, junk, pick) => {
      const all = paths(c.doc).filter((p) => p.length > 0);
      parseResource(
        applyEdit(c.doc, all[pick % all.length] as Path, { op: "set", value: junk }),
        "k8s",
        DOMAIN,
      );
    }),
    budget(t, 200),
  );
});

test("destination corpus: every saved document parses without throwing, as it did", () => {
  for (const { name, bytes } of corpus("destination")) {
    const parsed = parseResources(bytes.toString("utf8"), name, DOMAIN);
    const expected = /^ok-/.test(name);
    assert.equal(
      parsed.problems.length === 0 && parsed.resources.length > 0,
      expected,
      `${name}: ${JSON.stringify(parsed.problems)}`,
    );
  }
});
