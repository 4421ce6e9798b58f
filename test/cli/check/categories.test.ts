// The categories' logic over a fake API server (a map of paths to objects): the identity PKI's
// validity, expiry warnings and chain; the control plane's Deployments, pods (finished Job pods
// ignored) and restart loops; the minimum Kubernetes version; and --pre's access reviews.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { trellisControlPlane } from "../../../cli/check/categories/control-plane.js";
import { gauge, trellisDestination } from "../../../cli/check/categories/data-plane.js";
import { trellisIdentity } from "../../../cli/check/categories/identity.js";
import { kubernetesVersion, preKubernetesSetup } from "../../../cli/check/categories/kubernetes.js";
import { type Category, type CheckContext, type CheckReport, runChecks } from "../../../cli/check/index.js";
import { ISSUER_SECRET, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY } from "../../../cli/install/index.js";
import { type CertificateAndKeyPem, createIssuer, createTrustAnchor } from "../../../control/identity/ca.js";
import type { RestResult } from "../../../control/k8s/index.js";

const NS = "trellis";
const DAY = 86_400_000;

/** A context whose API answers `objects[path]` (the query string ignored), 404 for anything else. */
function fakeContext(
  objects: Record<string, unknown>,
  options: { text?: (path: string) => RestResult<string>; allowed?: (body: unknown) => boolean } = {},
): CheckContext {
  const strip = (p: string) => p.split("?")[0] as string;
  return {
    namespace: NS,
    version: "0.1.0",
    now: () => new Date(),
    api: {
      get: async <T>(path: string) =>
        ({ ok: true, status: 200, body: objects[strip(path)] as T | undefined }) as RestResult<T | undefined>,
      post: async <T>(_path: string, body: unknown) =>
        ({
          ok: true,
          status: 201,
          body: { status: { allowed: options.allowed?.(body) ?? true } } as T,
        }) as RestResult<T>,
      getText: async (path: string) => options.text?.(path) ?? { ok: true, status: 200, body: "ready\n" },
    },
  };
}

async function results(category: Category, ctx: CheckContext): Promise<Map<string, CheckReport>> {
  const report = await runChecks([category], ctx);
  return new Map(report.categories.flatMap((c) => c.checks.map((k) => [k.description, k] as const)));
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

function pkiObjects(anchors: string, issuer: CertificateAndKeyPem): Record<string, unknown> {
  const pod: V1Pod = {
    metadata: { name: "trellis-identity-1", namespace: NS },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
  return {
    [`/api/v1/namespaces/${NS}/configmaps/${TRUST_ROOTS_CONFIGMAP}`]: {
      data: { [TRUST_ROOTS_KEY]: anchors },
    },
    [`/api/v1/namespaces/${NS}/secrets/${ISSUER_SECRET}`]: {
      data: { "tls.crt": b64(issuer.certPem), "tls.key": b64(issuer.keyPem) },
    },
    [`/api/v1/namespaces/${NS}/pods`]: { items: [pod] },
  };
}

test("identity: a valid PKI passes every line; the identity service's /ready is asked through the pod proxy", async () => {
  const anchor = await createTrustAnchor({ trustDomain: "cluster.local" });
  const issuer = await createIssuer(anchor, { trustDomain: "cluster.local" });
  const asked: string[] = [];
  const r = await results(
    trellisIdentity,
    fakeContext(pkiObjects(anchor.certPem, issuer), {
      text: (p) => {
        asked.push(p);
        return { ok: true, status: 200, body: "ready\n" };
      },
    }),
  );
  assert.ok(
    [...r.values()].every((k) => k.result === "success"),
    JSON.stringify([...r.values()]),
  );
  assert.deepEqual(asked, [`/api/v1/namespaces/${NS}/pods/trellis-identity-1:9990/proxy/ready`]);
});

test("identity: an anchor expiring within 60 days warns, an expired issuer fails, another anchor's issuer fails the chain", async () => {
  const now = Date.now();
  const anchor = await createTrustAnchor({ trustDomain: "cluster.local", lifetimeMs: 30 * DAY });
  const expired = await createIssuer(anchor, {
    trustDomain: "cluster.local",
    now: new Date(now - 10 * DAY),
    lifetimeMs: DAY,
  });
  const r = await results(trellisIdentity, fakeContext(pkiObjects(anchor.certPem, expired)));
  assert.equal(r.get("trust anchors are within their validity period")?.result, "success");
  assert.equal(r.get("trust anchors are valid for at least 60 days")?.result, "warning");
  assert.equal(r.get("issuer cert is within its validity period")?.result, "error");
  assert.match(r.get("issuer cert is within its validity period")?.error ?? "", /not now/);
  assert.equal(r.get("issuer cert is issued by the trust anchor")?.result, "success");

  const other = await createIssuer(await createTrustAnchor({ trustDomain: "cluster.local" }), {
    trustDomain: "cluster.local",
  });
  const chain = await results(trellisIdentity, fakeContext(pkiObjects(anchor.certPem, other)));
  assert.equal(chain.get("issuer cert is issued by the trust anchor")?.result, "error");
  assert.match(
    chain.get("issuer cert is issued by the trust anchor")?.error ?? "",
    /not signed by any trust anchor/,
  );
});

test("identity: a key that is not the certificate's fails, and a missing ConfigMap stops the category on its first line", async () => {
  const anchor = await createTrustAnchor({ trustDomain: "cluster.local" });
  const issuer = await createIssuer(anchor, { trustDomain: "cluster.local" });
  const another = await createIssuer(anchor, { trustDomain: "cluster.local" });
  const mismatched = await results(
    trellisIdentity,
    fakeContext(pkiObjects(anchor.certPem, { certPem: issuer.certPem, keyPem: another.keyPem })),
  );
  assert.match(mismatched.get("issuer cert and key are readable")?.error ?? "", /not the key/);

  const objects = pkiObjects(anchor.certPem, issuer);
  delete objects[`/api/v1/namespaces/${NS}/configmaps/${TRUST_ROOTS_CONFIGMAP}`];
  const report = await runChecks([trellisIdentity], fakeContext(objects));
  assert.deepEqual(
    report.categories[0]?.checks.map((k) => k.result),
    ["error"],
  );
  assert.match(report.categories[0]?.checks[0]?.error ?? "", /does not exist/);
});

function deployment(name: string, replicas: number, available: number): V1Deployment {
  return {
    metadata: { name },
    spec: { replicas, selector: {}, template: {} },
    status: { availableReplicas: available },
  };
}

function controlPlaneObjects(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const objects: Record<string, unknown> = { [`/api/v1/namespaces/${NS}`]: { metadata: { name: NS } } };
  // Every object install makes exists: answer any GET of a named object.
  return new Proxy(
    { ...objects, ...extra },
    {
      get: (target, key: string) =>
        target[key] ?? (key.split("/").length > 5 ? { metadata: { name: key } } : undefined),
    },
  );
}

test("control plane: a Deployment scaled to 0 is not available; finished Job pods are ignored; CrashLoopBackOff fails", async () => {
  const ready = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
  const pods: V1Pod[] = [
    { metadata: { name: "identity", namespace: NS }, status: ready },
    {
      metadata: {
        name: "job-done",
        namespace: NS,
        ownerReferences: [{ kind: "Job", name: "j", apiVersion: "batch/v1", uid: "u" }],
      },
      status: { phase: "Succeeded" },
    },
    {
      metadata: { name: "looping", namespace: NS },
      status: {
        ...ready,
        containerStatuses: [
          {
            name: "c",
            image: "i",
            imageID: "",
            ready: true,
            restartCount: 7,
            state: { waiting: { reason: "CrashLoopBackOff" } },
          },
        ],
      },
    },
  ];
  const r = await results(
    trellisControlPlane,
    fakeContext(
      controlPlaneObjects({
        [`/apis/apps/v1/namespaces/${NS}/deployments/trellis-identity`]: deployment("trellis-identity", 1, 1),
        [`/apis/apps/v1/namespaces/${NS}/deployments/trellis-destination`]: deployment(
          "trellis-destination",
          0,
          0,
        ),
        [`/api/v1/namespaces/${NS}/pods`]: { items: pods },
      }),
    ),
  );
  assert.equal(r.get("control plane ServiceAccounts exist")?.result, "success");
  assert.match(
    r.get("control plane Deployments are available")?.error ?? "",
    /trellis-destination: scaled to 0 replicas/,
  );
  assert.doesNotMatch(r.get("control plane Deployments are available")?.error ?? "", /trellis-identity/);
  assert.equal(
    r.get("control plane pods are running and ready")?.result,
    "success",
    "the finished Job pod is not waited for",
  );
  assert.match(
    r.get("control plane pods are not restarting in a loop")?.error ?? "",
    /trellis\/looping \(c, 7 restarts\)/,
  );
});

test("control plane: a missing namespace stops the run on its first line", async () => {
  const report = await runChecks([trellisControlPlane, kubernetesVersion], fakeContext({}));
  assert.deepEqual(
    report.categories.map((c) => c.checks.map((k) => `${k.result} ${k.description}`)),
    [["error control plane namespace exists"]],
  );
});

test("kubernetes-version: below the minimum fails, naming the version", async () => {
  const old = await results(
    kubernetesVersion,
    fakeContext({ "/version": { major: "1", minor: "27", gitVersion: "v1.27.3" } }),
  );
  assert.match(
    old.get("is running the minimum Kubernetes API version")?.error ?? "",
    /v1\.27\.3; Trellis needs 1\.29/,
  );
  const current = await results(kubernetesVersion, fakeContext({ "/version": { major: "1", minor: "37+" } }));
  assert.equal(current.get("is running the minimum Kubernetes API version")?.result, "success");
});

test("--pre: denied access reviews name the kinds; an existing namespace fails", async () => {
  const r = await results(
    preKubernetesSetup,
    fakeContext(
      { [`/api/v1/namespaces/${NS}`]: { metadata: { name: NS } } },
      {
        allowed: (body) =>
          (body as { spec: { resourceAttributes: { resource: string } } }).spec.resourceAttributes
            .resource !== "clusterroles",
      },
    ),
  );
  assert.match(r.get("control plane namespace does not already exist")?.error ?? "", /exists already/);
  assert.equal(r.get("no earlier Trellis install is in the way")?.result, "success");
  assert.match(r.get("can create non-namespaced resources")?.error ?? "", /\* ClusterRole$/m);
  assert.doesNotMatch(r.get("can create non-namespaced resources")?.error ?? "", /CustomResourceDefinition/);
  assert.equal(r.get("can create the control plane's namespaced resources")?.result, "success");
});

test("gauge reads an unlabelled sample of Prometheus text", () => {
  const text = "# HELP x\nidentity_cert_expiration_timestamp_seconds 1767225600\nother 1\n";
  assert.equal(gauge(text, "identity_cert_expiration_timestamp_seconds"), 1767225600);
  assert.equal(gauge(text, "missing"), undefined);
});

test("destination: the lookup of kubernetes.default is asked of every running pod, in the cluster domain of trellis-config", async () => {
  const pod = (name: string): V1Pod => ({
    metadata: { name, namespace: NS },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  });
  const objects = {
    [`/api/v1/namespaces/${NS}/configmaps/trellis-config`]: { data: { clusterDomain: "corp.example" } },
    [`/api/v1/namespaces/${NS}/pods`]: {
      items: [pod("trellis-destination-1"), pod("trellis-destination-2")],
    },
  };
  const description = "destination service answers a lookup of kubernetes.default";
  const asked: string[] = [];
  const answers: Record<string, RestResult<string>> = {
    "trellis-destination-1": { ok: true, status: 200, body: '{"exists":true,"endpoints":[]}' },
    "trellis-destination-2": { ok: true, status: 200, body: '{"exists":false,"endpoints":[]}' },
  };
  const ctx = fakeContext(objects, {
    text: (p) => {
      if (!p.includes("/proxy/endpoints")) return { ok: true, status: 200, body: "ready\n" };
      asked.push(p);
      const name = /pods\/([^:]+):/.exec(p)?.[1] ?? "";
      return answers[name] ?? { ok: false, status: 404, reason: "no such pod" };
    },
  });
  const failed = (await results(trellisDestination, ctx)).get(description);
  assert.equal(failed?.result, "error");
  assert.match(
    failed?.error ?? "",
    /trellis-destination-2: does not know the Service kubernetes\.default\.svc\.corp\.example:443/,
  );
  assert.doesNotMatch(failed?.error ?? "", /trellis-destination-1/);
  assert.deepEqual(
    asked.map((p) => p.replace(/\?.*/, "")),
    [
      `/api/v1/namespaces/${NS}/pods/trellis-destination-1:9996/proxy/endpoints`,
      `/api/v1/namespaces/${NS}/pods/trellis-destination-2:9996/proxy/endpoints`,
    ],
  );
  assert.ok(
    asked[0]?.endsWith(`?authority=${encodeURIComponent("kubernetes.default.svc.corp.example:443")}`),
  );

  answers["trellis-destination-2"] = { ok: true, status: 200, body: "<html>proxy error</html>" };
  const garbage = (await results(trellisDestination, ctx)).get(description);
  assert.match(garbage?.error ?? "", /trellis-destination-2: the lookup answered something other than JSON/);

  answers["trellis-destination-2"] = { ok: true, status: 200, body: '{"exists":true,"endpoints":[]}' };
  assert.equal((await results(trellisDestination, ctx)).get(description)?.result, "success");
});
