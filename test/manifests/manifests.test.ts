// The manifests in manifests/ on their own: every file parses, every object is named as DESIGN.md
// says, the CRD schemas are structural and agree with the destination service's own validation
// (the same examples accepted, the same ones refused naming the same field), and the RBAC roles give
// each control-plane component only what it reads.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { bookshelf, storeFiles } from "../../cli/demo/topology.js";
import { translate } from "../../control/destination/kubernetes.js";
import { parseResource } from "../../control/destination/resources.js";
import {
  type Doc,
  invalidExamples,
  type K8sObject,
  loadManifests,
  refusedField,
  validExamples,
} from "./load.js";
import { type Schema, schemaFields, structuralProblems, validate, valueFields } from "./schema.js";

const CLUSTER_DOMAIN = "cluster.local";
const NAMESPACE = "trellis";

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: Schema };
}

interface Crd extends K8sObject {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: CrdVersion[];
    conversion?: { strategy: string };
  };
}

const manifests = loadManifests();

function crd(name: string): Crd {
  const found = manifests.find(
    (d) => d.object.kind === "CustomResourceDefinition" && d.object.metadata.name === name,
  );
  assert.ok(found, `no CustomResourceDefinition ${name} in manifests/`);
  return found.object as Crd;
}

/** The schema of the CRD version an object is written in. */
function schemaFor(obj: K8sObject): Schema {
  const [group, version] = obj.apiVersion.split("/");
  const def = manifests
    .map((d) => d.object as Crd)
    .find(
      (o) =>
        o.kind === "CustomResourceDefinition" && o.spec.group === group && o.spec.names.kind === obj.kind,
    );
  assert.ok(def, `no CRD for ${obj.apiVersion} ${obj.kind}`);
  const v = def.spec.versions.find((x) => x.name === version && x.served);
  assert.ok(v, `${def.metadata.name} does not serve ${version}`);
  return v.schema.openAPIV3Schema;
}

/** What the API server validates against the schema: everything but the type and object metadata. */
function body(obj: K8sObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = obj;
  return rest;
}

const where = (d: Doc) => `${d.file} (document ${d.index}) ${d.object.kind} ${d.object.metadata.name}`;

test("every manifest parses, and every object has apiVersion, kind and metadata.name", () => {
  const files = new Set(manifests.map((d) => d.file));
  for (const f of [
    "manifests/crds/serviceprofile.yaml",
    "manifests/crds/trafficsplit.yaml",
    "manifests/namespace.yaml",
    "manifests/rbac.yaml",
  ])
    assert.ok(files.has(f), `${f} is missing`);
  const seen = new Set<string>();
  for (const d of manifests) {
    const o = d.object;
    assert.equal(typeof o.apiVersion, "string", `${d.file} (document ${d.index}): apiVersion`);
    assert.equal(typeof o.kind, "string", `${d.file} (document ${d.index}): kind`);
    assert.ok(
      o.metadata && typeof o.metadata.name === "string" && o.metadata.name !== "",
      `${d.file} (document ${d.index}): metadata.name`,
    );
    const id = `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    assert.ok(!seen.has(id), `${where(d)} is defined twice`);
    seen.add(id);
  }
});

test("names follow DESIGN.md: trellis.dev and SMI groups, the trellis namespace, trellis- prefixes, trellis.dev/ labels", () => {
  const sp = crd("serviceprofiles.trellis.dev");
  assert.deepEqual(
    [sp.spec.group, sp.spec.scope, sp.spec.names.kind, sp.spec.names.plural],
    ["trellis.dev", "Namespaced", "ServiceProfile", "serviceprofiles"],
  );
  const ts = crd("trafficsplits.split.smi-spec.io");
  assert.deepEqual(
    [ts.spec.group, ts.spec.scope, ts.spec.names.kind, ts.spec.names.plural],
    ["split.smi-spec.io", "Namespaced", "TrafficSplit", "trafficsplits"],
  );
  const ns = manifests.filter((d) => d.object.kind === "Namespace");
  assert.deepEqual(
    ns.map((d) => d.object.metadata.name),
    [NAMESPACE],
  );
  assert.equal(ns[0]?.object.metadata.labels?.["trellis.dev/control-plane-ns"], NAMESPACE);
  assert.equal(
    ns[0]?.object.metadata.annotations?.["trellis.dev/inject"],
    "disabled",
    "the control plane is not injected by its own webhook",
  );
  const clusterScoped = new Set([
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
  ]);
  for (const d of manifests) {
    const o = d.object;
    if (clusterScoped.has(o.kind))
      assert.equal(o.metadata.namespace, undefined, `${where(d)} is cluster-scoped`);
    else assert.equal(o.metadata.namespace, NAMESPACE, `${where(d)} belongs in ${NAMESPACE}`);
    if (o.kind !== "CustomResourceDefinition")
      assert.match(o.metadata.name, /^trellis(-[a-z0-9]+)*$/, `${where(d)}: names start with trellis`);
    for (const k of Object.keys({ ...o.metadata.labels, ...o.metadata.annotations }))
      assert.match(k, /^trellis\.dev\//, `${where(d)}: label or annotation ${k} is not under trellis.dev/`);
    assert.equal(
      o.metadata.labels?.["trellis.dev/control-plane-ns"],
      NAMESPACE,
      `${where(d)}: control-plane-ns label`,
    );
  }
  assert.deepEqual(
    manifests.filter((d) => d.object.kind === "ServiceAccount").map((d) => d.object.metadata.name),
    ["trellis-identity", "trellis-destination", "trellis-injector"],
  );
});

test("the CRD schemas are structural; ServiceProfile is trellis.dev/v1alpha1; TrafficSplit stores v1alpha2 and serves v1alpha1 too", () => {
  const sp = crd("serviceprofiles.trellis.dev");
  assert.deepEqual(
    sp.spec.versions.map((v) => [v.name, v.served, v.storage]),
    [["v1alpha1", true, true]],
  );
  const ts = crd("trafficsplits.split.smi-spec.io");
  assert.deepEqual(
    ts.spec.versions.map((v) => [v.name, v.served, v.storage]),
    [
      ["v1alpha2", true, true],
      ["v1alpha1", true, false],
    ],
  );
  assert.equal(ts.spec.conversion?.strategy, "None");
  for (const def of [sp, ts])
    for (const v of def.spec.versions)
      assert.deepEqual(structuralProblems(v.schema.openAPIV3Schema), [], `${def.metadata.name} ${v.name}`);
});

test("every example the destination service accepts, the CRD accepts unchanged, including the demo's canary split and profile", () => {
  const demo = storeFiles(bookshelf())
    .flatMap((f) => parseAllDocuments(f.text))
    .map((d) => d.toJS() as K8sObject)
    .filter((o) => o.kind === "TrafficSplit" || o.kind === "ServiceProfile");
  assert.deepEqual(
    demo.map((o) => o.kind),
    ["TrafficSplit", "ServiceProfile"],
    "the demo has a canary TrafficSplit and a ServiceProfile",
  );
  const examples: Doc[] = [
    ...validExamples(),
    ...demo.map((object, i) => ({ file: "meshctl demo", index: i + 1, object })),
  ];
  assert.ok(examples.some((d) => d.object.kind === "ServiceProfile"));
  assert.ok(examples.some((d) => d.object.apiVersion === "split.smi-spec.io/v1alpha1"));
  for (const d of examples) {
    const r = parseResource(d.object, where(d), CLUSTER_DOMAIN);
    assert.ok(
      !("problem" in r),
      `the destination refuses ${where(d)}: ${"problem" in r ? r.problem.reason : ""}`,
    );
    assert.deepEqual(validate(schemaFor(d.object), body(d.object)), [], `the CRD refuses ${where(d)}`);
  }
});

/** Whether the schema carries a CEL rule at `field` (array indices ignored) whose message names it. */
function ruleAt(schema: Schema, field: string): boolean {
  if (field === "metadata.name")
    return (schema["x-kubernetes-validations"] ?? []).some((v) => v.message?.includes("metadata.name"));
  let node: Schema | undefined = schema;
  for (const part of field.split(".")) {
    const [name, ...indices] = part.split("[");
    node = node?.properties?.[name ?? ""];
    for (const _ of indices) node = node?.items;
  }
  return (node?.["x-kubernetes-validations"] ?? []).length > 0;
}

test("every example the destination service refuses, the CRD refuses too, naming the same field", () => {
  const examples = invalidExamples();
  assert.ok(examples.length >= 10);
  for (const d of examples) {
    const field = refusedField(d);
    const r = parseResource(d.object, where(d), CLUSTER_DOMAIN);
    assert.ok("problem" in r, `the destination accepts ${where(d)}`);
    assert.ok(
      r.problem.reason.includes(`${field}: `),
      `the destination's reason names ${field}: ${r.problem.reason}`,
    );
    const schema = schemaFor(d.object);
    const errors = validate(schema, body(d.object));
    if (errors.length === 0) {
      // Only a CEL rule can say this (compared values, the object's name): the cluster tier runs it.
      assert.ok(ruleAt(schema, field), `the CRD accepts ${where(d)}, and has no validation rule on ${field}`);
    } else {
      assert.ok(
        errors.some((e) => e.startsWith(`${field}: `)),
        `the CRD refuses ${where(d)} but not naming ${field}: ${errors.join("; ")}`,
      );
    }
  }
});

test("every field of the ServiceProfile schema is used by an accepted example, so none is unread by the destination", () => {
  const schema = schemaFor({
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: "x" },
  });
  const used = new Set(
    validExamples()
      .filter((d) => d.object.kind === "ServiceProfile")
      .flatMap((d) => valueFields(body(d.object))),
  );
  const unused = schemaFields(schema).filter((f) => !used.has(f));
  assert.deepEqual(unused, [], "fields of the schema no accepted example uses");
});

test("a v1alpha1 split read back through v1alpha2 (apiVersion rewritten, quantities kept) means the same split to the destination", () => {
  const splits = validExamples().filter((d) => d.object.kind === "TrafficSplit");
  const asServed = splits.map((d) => ({ ...d.object, apiVersion: "split.smi-spec.io/v1alpha2" }));
  const { state, problems } = translate(
    { services: [], endpointSlices: [], pods: [], serviceProfiles: [], trafficSplits: asServed },
    CLUSTER_DOMAIN,
  );
  assert.deepEqual(problems, []);
  const weights = (name: string) =>
    state.splits.get(`shop/${name}`)?.backends.map((b) => [b.service, b.weight]);
  assert.deepEqual(weights("books-canary"), [
    ["books-stable", 900_000],
    ["books-v2", 100_000],
  ]);
  assert.deepEqual(weights("books-canary-quantities"), [
    ["books-stable", 9_000],
    ["books-v2", 1_000],
  ]);
  assert.deepEqual(weights("books-canary-integers"), [
    ["books-stable", 90_000],
    ["books-v2", 10_000],
    ["books-v3", 0],
  ]);
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** `group/resource: verbs` for each resource a ClusterRole grants. */
function grants(name: string): Record<string, string[]> {
  const role = manifests.find((d) => d.object.kind === "ClusterRole" && d.object.metadata.name === name);
  assert.ok(role, `no ClusterRole ${name}`);
  const out: Record<string, string[]> = {};
  for (const r of role.object.rules as Rule[])
    for (const g of r.apiGroups)
      for (const res of r.resources) out[`${g || "core"}/${res}`] = [...r.verbs].sort();
  return out;
}

test("RBAC: identity may only create TokenReviews; destination may only read what its informers watch; the injector reads namespaces, writes Events, and reads ConfigMaps only in its own namespace", () => {
  assert.deepEqual(grants("trellis-trellis-identity"), { "authentication.k8s.io/tokenreviews": ["create"] });
  const read = ["get", "list", "watch"];
  assert.deepEqual(grants("trellis-trellis-destination"), {
    "core/services": read,
    "core/pods": read,
    "discovery.k8s.io/endpointslices": read,
    "trellis.dev/serviceprofiles": read,
    "split.smi-spec.io/trafficsplits": read,
  });
  assert.deepEqual(grants("trellis-trellis-injector"), {
    "core/namespaces": read,
    "core/events": ["create"],
  });
  const role = manifests.find(
    (d) => d.object.kind === "Role" && d.object.metadata.name === "trellis-injector",
  );
  assert.equal(role?.object.metadata.namespace, NAMESPACE);
  assert.deepEqual(role?.object.rules, [{ apiGroups: [""], resources: ["configmaps"], verbs: read }]);
  const roleBinding = manifests.find((d) => d.object.kind === "RoleBinding")?.object as
    | (K8sObject & { roleRef: unknown; subjects: unknown })
    | undefined;
  assert.deepEqual(roleBinding?.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: "trellis-injector",
  });
  assert.deepEqual(roleBinding?.subjects, [
    { kind: "ServiceAccount", name: "trellis-injector", namespace: NAMESPACE },
  ]);
  const bindings = manifests.filter((d) => d.object.kind === "ClusterRoleBinding");
  assert.deepEqual(
    bindings.map((d) => {
      const o = d.object as K8sObject & {
        roleRef: { kind: string; name: string };
        subjects: { kind: string; name: string; namespace: string }[];
      };
      return [
        o.metadata.name,
        o.roleRef.kind,
        o.roleRef.name,
        o.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`),
      ];
    }),
    [
      [
        "trellis-trellis-identity",
        "ClusterRole",
        "trellis-trellis-identity",
        ["ServiceAccount trellis/trellis-identity"],
      ],
      [
        "trellis-trellis-destination",
        "ClusterRole",
        "trellis-trellis-destination",
        ["ServiceAccount trellis/trellis-destination"],
      ],
      [
        "trellis-trellis-injector",
        "ClusterRole",
        "trellis-trellis-injector",
        ["ServiceAccount trellis/trellis-injector"],
      ],
    ],
  );
});

test("the structural check refuses what the API server refused: a minimum and a pattern inside int-or-string's anyOf", () => {
  const weight: Schema = {
    "x-kubernetes-int-or-string": true,
    anyOf: [
      { type: "integer", minimum: 0 },
      { type: "string", pattern: "^[0-9]+m?$" },
    ],
  };
  assert.deepEqual(structuralProblems(weight, "weight"), [
    "weight.anyOf[0]: type is not allowed here",
    "weight.anyOf[1]: type is not allowed here",
  ]);
  const bare: Schema = {
    ...weight,
    anyOf: [{ type: "integer" }, { type: "string" }],
    minimum: 0,
    pattern: "^[0-9]+m?$",
  };
  assert.deepEqual(structuralProblems(bare, "weight"), []);
  // minimum checks only integers and pattern only strings, as in the API server.
  assert.deepEqual(validate(bare, 5), []);
  assert.deepEqual(validate(bare, "900m"), []);
  assert.equal(validate(bare, -1).length, 1);
  assert.equal(validate(bare, "lots").length, 1);
  assert.equal(validate(bare, 0.5).length, 1);
});
