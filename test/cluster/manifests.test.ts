/**
 * The manifests in manifests/ against a real kube-apiserver: they are all created as written, the
 * CRDs' schemas accept what the destination service accepts and refuse what it refuses (naming the
 * field), a TrafficSplit written as v1alpha1 reads back through v1alpha2 as the same split, and the
 * RBAC roles give each component exactly what it uses: the destination service runs with its own
 * ServiceAccount's token and streams a ServiceProfile created in the cluster.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  ApiextensionsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import {
  DestinationClient,
  type DestinationProfile,
} from "../../control/api/gen/trellis/destination/v1/destination.js";
import { translate } from "../../control/destination/kubernetes.js";
import { Recorder } from "../control/destination/harness.js";
import {
  type Doc,
  invalidExamples,
  type K8sObject,
  loadManifests,
  refusedField,
  validExamples,
} from "../manifests/load.js";
import { bin, type Child, repoRoot, startNode } from "../support/process.js";
import { type Cluster, startCluster, TEST_IMAGE_PREFIX } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";

const NAMESPACE = "trellis";
const PLURALS: Record<string, string> = { ServiceProfile: "serviceprofiles", TrafficSplit: "trafficsplits" };

let cluster: Cluster;
let custom: CustomObjectsApi;

before(async () => {
  cluster = await startCluster();
  custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  // The examples' namespaces.
  await cluster.createNamespace("shop");
  await cluster.createNamespace("front");
});

after(async () => {
  await cluster?.stop();
});

/** The API server's answer to a refused request: its HTTP code and message. */
function refusal(err: unknown): { code: number; message: string } {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code !== "number") throw err;
  let body = e.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      // a body that is not JSON is its own message
    }
  }
  const message = (body as { message?: string } | undefined)?.message ?? String(e.body ?? e.message);
  return { code: e.code, message };
}

function createCustom(obj: K8sObject, fieldValidation = "Strict"): Promise<K8sObject> {
  const [group = "", version = ""] = obj.apiVersion.split("/");
  const plural = PLURALS[obj.kind];
  if (!plural) throw new Error(`no CRD for kind ${obj.kind}`);
  return custom.createNamespacedCustomObject({
    group,
    version,
    plural,
    namespace: obj.metadata.namespace ?? "default",
    body: obj,
    fieldValidation,
  });
}

const where = (d: Doc) => `${d.file} (document ${d.index}) ${d.object.kind} ${d.object.metadata.name}`;

/** A kubeconfig that authenticates as a ServiceAccount of the control plane, with a fresh token. */
async function serviceAccountConfig(name: string): Promise<{ kubeConfig: KubeConfig; path: string }> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace: NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  assert.ok(token, `no token for ServiceAccount ${NAMESPACE}/${name}`);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: "testbed",
        server: cluster.apiserverUrl,
        caData: Buffer.from(cluster.pki.ca.certPem).toString("base64"),
      },
    ],
    users: [{ name, token }],
    contexts: [{ name, cluster: "testbed", user: name }],
    currentContext: name,
  });
  const path = join(cluster.dir, `kubeconfig-${name}`);
  writeFileSync(path, kubeConfig.exportConfig(), { mode: 0o600 });
  return { kubeConfig, path };
}

test("every manifest is applied by kubectl as written, and the CRDs become Established", async () => {
  const manifests = loadManifests();
  // As an operator applies them (meshctl install | kubectl apply -f -), server-side. Not through
  // KubernetesObjectApi: its typed serializer drops x-kubernetes-* keys at the root of a CRD's schema
  // (the ServiceProfile name rule), which the stored-schema check below would catch.
  const files = [...new Set(manifests.map((d) => d.file))];
  for (const file of files)
    await cluster.kubectl(["apply", "--server-side", "--field-manager=meshctl", "-f", join(repoRoot, file)]);
  const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  for (const d of manifests.filter((m) => m.object.kind === "CustomResourceDefinition")) {
    const name = d.object.metadata.name;
    const crd = await waitForObject<V1CustomResourceDefinition>(
      cluster.kubeConfig,
      `CustomResourceDefinition ${name} Established`,
      {
        path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        list: () => ext.listCustomResourceDefinition({ fieldSelector: `metadata.name=${name}` }),
        fieldSelector: `metadata.name=${name}`,
      },
      (c) => Boolean(c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")),
    );
    // Read raw, not through the typed model, to compare with what was written.
    const stored = JSON.parse(
      await cluster.kubectl(["get", "customresourcedefinition", name, "-o", "json"]),
    ) as { spec: { versions: { name: string; schema: unknown }[] } };
    const written = (d.object.spec as { versions: { name: string; schema: unknown }[] }).versions;
    assert.equal(crd.spec.versions.length, written.length);
    for (const v of written)
      assert.deepEqual(
        stored.spec.versions.find((x) => x.name === v.name)?.schema,
        v.schema,
        `${name} ${v.name}: the stored schema is the one written`,
      );
  }
  const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  for (const d of manifests) {
    const read = await objects.read({
      apiVersion: d.object.apiVersion,
      kind: d.object.kind,
      metadata: { name: d.object.metadata.name, namespace: d.object.metadata.namespace },
    });
    for (const [k, v] of Object.entries(d.object.metadata.labels ?? {}))
      assert.equal(read.metadata?.labels?.[k], v, `${where(d)}: label ${k}`);
  }
});

test("every example the destination service accepts is stored unchanged; TrafficSplits of both versions read back through v1alpha2", async () => {
  for (const d of validExamples()) {
    const created = await createCustom(d.object).catch((err) => {
      throw new Error(`${where(d)}: refused: ${refusal(err).message}`);
    });
    assert.deepEqual(created.spec, d.object.spec, `${where(d)}: nothing pruned or changed`);
  }
  const splits = (await custom.listCustomObjectForAllNamespaces({
    group: "split.smi-spec.io",
    version: "v1alpha2",
    plural: "trafficsplits",
  })) as { items: K8sObject[] };
  const byName = new Map(splits.items.map((o) => [o.metadata.name, o]));
  const quantities = byName.get("books-canary-quantities");
  assert.ok(quantities, "the v1alpha1 split is listed through v1alpha2");
  assert.equal(quantities.apiVersion, "split.smi-spec.io/v1alpha2");
  assert.deepEqual(
    (quantities.spec as { backends: unknown[] }).backends,
    [
      { service: "books-stable", weight: "900m" },
      { service: "books-v2", weight: "100m" },
    ],
    "a v1alpha1 object keeps its quantities (conversion None rewrites only apiVersion)",
  );
  const profiles = (await custom.listCustomObjectForAllNamespaces({
    group: "trellis.dev",
    version: "v1alpha1",
    plural: "serviceprofiles",
  })) as { items: K8sObject[] };
  // What the destination service's informers hand to its translation.
  const { state, problems } = translate(
    {
      services: [],
      endpointSlices: [],
      pods: [],
      serviceProfiles: profiles.items,
      trafficSplits: splits.items,
    },
    "cluster.local",
  );
  assert.deepEqual(problems, []);
  const weights = (name: string) => state.splits.get(`shop/${name}`)?.backends.map((b) => b.weight);
  assert.deepEqual(weights("books-canary"), [900_000, 100_000]);
  assert.deepEqual(weights("books-canary-quantities"), [9_000, 1_000]);
  assert.deepEqual(weights("books-canary-integers"), [90_000, 10_000, 0]);
  assert.equal(state.profiles.get("shop/web.shop.svc.cluster.local")?.routes.length, 2);

  // Stored quantities do not block an update through v1alpha2 that leaves the weights alone.
  const relabelled = { ...quantities, metadata: { ...quantities.metadata, labels: { team: "books" } } };
  const updated = (await custom
    .replaceNamespacedCustomObject({
      group: "split.smi-spec.io",
      version: "v1alpha2",
      plural: "trafficsplits",
      namespace: "shop",
      name: "books-canary-quantities",
      body: relabelled,
    })
    .catch((err) => {
      throw new Error(`update through v1alpha2 refused: ${refusal(err).message}`);
    })) as K8sObject;
  assert.deepEqual(updated.metadata.labels, { team: "books" });
});

test("every example the destination service refuses, the API server refuses too, naming the field", async () => {
  for (const d of invalidExamples()) {
    const field = refusedField(d);
    const outcome = await createCustom(d.object).then(
      () => undefined,
      (err: unknown) => refusal(err),
    );
    assert.ok(outcome, `${where(d)}: accepted`);
    assert.equal(outcome.code, 422, `${where(d)}: ${outcome.message}`);
    assert.ok(
      outcome.message.includes(field),
      `${where(d)}: the refusal does not name ${field}: ${outcome.message}`,
    );
  }
});

test("a field the destination service does not read is refused with strict field validation, and pruned without", async () => {
  const profile: K8sObject = {
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: "ratings.shop.svc.cluster.local", namespace: "shop" },
    spec: {
      routes: [{ name: "r", condition: { method: "GET" } }],
      dstOverrides: [{ authority: "ratings-v2.shop.svc.cluster.local:80", weight: 1 }],
    },
  };
  const strict = await createCustom(profile).then(
    () => undefined,
    (err: unknown) => refusal(err),
  );
  assert.match(strict?.message ?? "accepted", /unknown field "spec\.dstOverrides"/);
  const created = await createCustom(profile, "Ignore");
  assert.deepEqual(created.spec, { routes: [{ name: "r", condition: { method: "GET" } }] });
});

const SA_GROUPS = ["system:serviceaccounts", `system:serviceaccounts:${NAMESPACE}`, "system:authenticated"];

async function allowed(
  serviceAccount: string,
  verb: string,
  group: string,
  resource: string,
  namespace?: string,
): Promise<boolean> {
  const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
  const review = await authz.createSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: `system:serviceaccount:${NAMESPACE}:${serviceAccount}`,
        groups: SA_GROUPS,
        resourceAttributes: { verb, group, resource, ...(namespace ? { namespace } : {}) },
      },
    },
  });
  return review.status?.allowed === true;
}

test("RBAC: destination may watch what it streams and nothing more; identity may create TokenReviews and nothing more; the injector reads namespaces and its own namespace's ConfigMaps and writes Events", async () => {
  const cases: [string, string, string, string, boolean, string?][] = [
    ["trellis-destination", "watch", "trellis.dev", "serviceprofiles", true],
    ["trellis-destination", "list", "split.smi-spec.io", "trafficsplits", true],
    ["trellis-destination", "watch", "discovery.k8s.io", "endpointslices", true],
    ["trellis-destination", "watch", "", "services", true],
    ["trellis-destination", "get", "", "pods", true],
    ["trellis-destination", "create", "authentication.k8s.io", "tokenreviews", false],
    ["trellis-destination", "get", "", "secrets", false],
    ["trellis-destination", "list", "", "secrets", false],
    ["trellis-destination", "create", "trellis.dev", "serviceprofiles", false],
    ["trellis-destination", "update", "", "pods", false],
    ["trellis-identity", "create", "authentication.k8s.io", "tokenreviews", true],
    ["trellis-identity", "list", "", "pods", false],
    ["trellis-identity", "get", "", "secrets", false],
    ["trellis-identity", "watch", "trellis.dev", "serviceprofiles", false],
    ["trellis-injector", "watch", "", "namespaces", true],
    ["trellis-injector", "get", "", "namespaces", true],
    ["trellis-injector", "create", "", "events", true, "shop"],
    ["trellis-injector", "watch", "", "configmaps", true, NAMESPACE],
    ["trellis-injector", "list", "", "configmaps", false],
    ["trellis-injector", "get", "", "configmaps", false, "shop"],
    ["trellis-injector", "get", "", "secrets", false, NAMESPACE],
    ["trellis-injector", "list", "", "pods", false],
    ["trellis-injector", "update", "", "namespaces", false],
    ["trellis-injector", "create", "", "pods", false, "shop"],
  ];
  const wrong: string[] = [];
  for (const [sa, verb, group, resource, expected, namespace] of cases) {
    const got = await allowed(sa, verb, group, resource, namespace);
    if (got !== expected)
      wrong.push(
        `${sa} ${verb} ${group || "core"}/${resource}${namespace ? ` in ${namespace}` : ""}: ${got ? "allowed" : "denied"}`,
      );
  }
  assert.deepEqual(wrong, []);
});

test("RBAC for real: identity's token may review tokens but not list pods; destination's may not review tokens or read secrets", async () => {
  const identity = (await serviceAccountConfig("trellis-identity")).kubeConfig;
  const destination = (await serviceAccountConfig("trellis-destination")).kubeConfig;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const proof = await core.createNamespacedServiceAccountToken({
    name: "default",
    namespace: "shop",
    body: { spec: { audiences: ["identity.trellis.dev"], expirationSeconds: 600 } },
  });
  const review = {
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token: proof.status?.token ?? "", audiences: ["identity.trellis.dev"] },
    },
  };
  const reviewed = await identity.makeApiClient(AuthenticationV1Api).createTokenReview(review);
  assert.equal(reviewed.status?.user?.username, "system:serviceaccount:shop:default");
  const forbidden = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (err: unknown) => refusal(err).code,
    );
  assert.equal(await forbidden(identity.makeApiClient(CoreV1Api).listPodForAllNamespaces()), 403);
  assert.equal(
    await forbidden(destination.makeApiClient(AuthenticationV1Api).createTokenReview(review)),
    403,
  );
  assert.equal(
    await forbidden(destination.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: NAMESPACE })),
    403,
  );
});

/** The destination service with trellis-destination's token and nothing else; stopped when the test ends. */
async function startDestination(t: TestContext): Promise<DestinationClient> {
  const { path } = await serviceAccountConfig("trellis-destination");
  const destination: Child = startNode(t, bin("trellis-controller"), [
    "destination",
    "--source=kubernetes",
    `--kubeconfig=${path}`,
    "--listen=127.0.0.1:0",
    "--admin-listen=127.0.0.1:0",
  ]);
  const ready = await destination.ready<{ listen: string }>(60_000);
  const client = new DestinationClient(ready.listen, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

function watchProfile(
  t: TestContext,
  client: DestinationClient,
  authority: string,
  contextNamespace: string,
) {
  const profiles = new Recorder<DestinationProfile>(client.getProfile({ authority, contextNamespace }));
  t.after(() => profiles.call.cancel());
  return profiles;
}

test("the destination service, with only trellis-destination's token, streams a ServiceProfile created in the cluster to GetProfile", async (t) => {
  const client = await startDestination(t);
  const profiles = watchProfile(t, client, "reviews.shop.svc.cluster.local:80", "shop");
  const first = await profiles.next();
  assert.deepEqual(first.routes, [], "no profile yet");

  await createCustom({
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: "reviews.shop.svc.cluster.local", namespace: "shop" },
    spec: {
      routes: [
        {
          name: "GET /reviews",
          condition: { method: "GET", pathRegex: "/reviews" },
          isRetryable: true,
          timeout: "300ms",
        },
      ],
      retryBudget: { retryRatio: 0.3, minRetriesPerSecond: 7, ttl: "15s" },
    },
  });
  const withRoutes = await profiles.next((p) => p.routes.length > 0);
  assert.equal(withRoutes.fullyQualifiedName, "reviews.shop.svc.cluster.local");
  assert.deepEqual(
    withRoutes.routes.map((r) => [r.name, r.isRetryable, r.timeoutMs]),
    [["GET /reviews", true, 300]],
  );
  assert.equal(withRoutes.retryBudget?.minRetriesPerSecond, 7);
  assert.equal(withRoutes.retryBudget?.ttlMs, 15_000);
});

test("a TrafficSplit written as v1alpha1 with quantities reaches GetProfile as weighted dst_overrides", async (t) => {
  const ns = "canary";
  await cluster.createNamespace(ns);
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const service = (name: string, selector: Record<string, string>) =>
    core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name }, spec: { selector, ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
    });
  await service("reviews", { app: "reviews" });
  await service("reviews-stable", { app: "reviews", track: "stable" });
  await service("reviews-v2", { app: "reviews", track: "v2" });
  for (const track of ["stable", "v2"])
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `reviews-${track}`, labels: { app: "reviews", track } },
        spec: {
          containers: [
            { name: "app", image: `${TEST_IMAGE_PREFIX}echo:latest`, ports: [{ containerPort: 8080 }] },
          ],
        },
      },
    });
  await createCustom({
    apiVersion: "split.smi-spec.io/v1alpha1",
    kind: "TrafficSplit",
    metadata: { name: "reviews-canary", namespace: ns },
    spec: {
      service: "reviews",
      backends: [
        { service: "reviews-stable", weight: "750m" },
        { service: "reviews-v2", weight: "250m" },
      ],
    },
  });
  const client = await startDestination(t);
  const profiles = watchProfile(t, client, `reviews.${ns}.svc.cluster.local:80`, ns);
  // A backend is announced once it has a ready endpoint: both pods must be running and published.
  const split = await profiles.next((p) => p.dstOverrides.length === 2, 0, 90_000);
  assert.deepEqual(
    split.dstOverrides.map((d) => [d.authority, d.weight]),
    [
      [`reviews-stable.${ns}.svc.cluster.local:80`, 7_500],
      [`reviews-v2.${ns}.svc.cluster.local:80`, 2_500],
    ],
  );
});
