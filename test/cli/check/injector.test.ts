// The trellis-injector category's logic over a fake API server: the webhook configuration present and
// aimed at the injector, the serving certificate's validity and expiry, and the dry-run Pod the API
// server must send back injected (a caBundle the injector's certificate does not verify shows as the
// API server's x509 error); the namespace the dry run goes to follows the webhook's namespaceSelector.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { selectorMatches, trellisInjector } from "../../../cli/check/categories/injector.js";
import { type CheckContext, type CheckReport, runChecks } from "../../../cli/check/index.js";
import { generateInjectorTls, injectorWebhookConfigurationName } from "../../../cli/install/index.js";
import type { RestResult } from "../../../control/k8s/index.js";

const NS = "trellis";
const DAY = 86_400_000;
const CONFIG_PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${injectorWebhookConfigurationName(NS)}`;

interface Fake {
  objects: Record<string, unknown>;
  /** What a POST (the dry-run Pod) answers; the body it was given is recorded. */
  post?: (path: string, body: V1Pod) => RestResult<unknown>;
  posted: { path: string; body: V1Pod }[];
}

function context(fake: Fake): CheckContext {
  const strip = (p: string) => p.split("?")[0] as string;
  return {
    namespace: NS,
    version: "0.1.0",
    now: () => new Date(),
    api: {
      get: async <T>(path: string) =>
        ({ ok: true, status: 200, body: fake.objects[strip(path)] as T | undefined }) as RestResult<
          T | undefined
        >,
      post: async <T>(path: string, body: unknown) => {
        fake.posted.push({ path, body: body as V1Pod });
        return (fake.post?.(path, body as V1Pod) ?? {
          ok: false,
          status: 500,
          reason: "no answer",
        }) as RestResult<T>;
      },
      getText: async () => ({ ok: true, status: 200, body: "ready\n" }),
    },
  };
}

/** The cluster as install leaves it, with a serving certificate valid for `lifetimeMs`. */
async function installed(lifetimeMs = 365 * DAY, now = new Date()): Promise<Fake> {
  const tls = await generateInjectorTls(`trellis-injector.${NS}.svc`, { now, lifetimeMs });
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return {
    posted: [],
    objects: {
      [CONFIG_PATH]: {
        webhooks: [
          {
            name: "inject.trellis.dev",
            clientConfig: { service: { name: "trellis-injector", namespace: NS }, caBundle: b64(tls.caPem) },
            namespaceSelector: {
              matchExpressions: [
                { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", NS] },
                { key: "trellis.dev/admission-webhooks", operator: "NotIn", values: ["disabled"] },
              ],
            },
          },
        ],
      },
      [`/api/v1/namespaces/${NS}/secrets/trellis-injector-tls`]: { data: { "tls.crt": b64(tls.certPem) } },
      [`/api/v1/namespaces/${NS}/pods`]: {
        items: [
          {
            metadata: { name: "trellis-injector-1", namespace: NS },
            status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
          },
        ],
      },
      "/api/v1/namespaces": {
        items: ["default", "kube-system", NS, "shop"].map((name) => ({
          metadata: { name, labels: { "kubernetes.io/metadata.name": name } },
        })),
      },
    },
    // A working injector: the pod comes back with its proxy.
    post: (_path, body) => ({
      ok: true,
      status: 201,
      body: { ...body, spec: { ...body.spec, initContainers: [{ name: "trellis-proxy" }] } },
    }),
  };
}

async function results(fake: Fake): Promise<Map<string, CheckReport>> {
  const report = await runChecks([trellisInjector], context(fake));
  return new Map(report.categories.flatMap((c) => c.checks.map((k) => [k.description, k] as const)));
}

const CA_LINE = "injector webhook's caBundle verifies the certificate the injector presents";

test("a working install passes every line; the dry-run Pod goes to default, annotated for injection", async () => {
  const fake = await installed();
  const r = await results(fake);
  assert.deepEqual(
    [...r.values()].map((k) => [k.description, k.result]),
    trellisInjector.checks.map((c) => [c.description, "success"]),
  );
  assert.equal(fake.posted.length, 1);
  assert.equal(fake.posted[0]?.path, "/api/v1/namespaces/default/pods?dryRun=All");
  assert.equal(fake.posted[0]?.body.metadata?.annotations?.["trellis.dev/inject"], "enabled");
});

test("no webhook configuration fails the first line and stops the category", async () => {
  const fake = await installed();
  delete fake.objects[CONFIG_PATH];
  const report = await runChecks([trellisInjector], context(fake));
  const lines = report.categories[0]?.checks ?? [];
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.result, "error");
  assert.match(lines[0]?.error ?? "", /MutatingWebhookConfiguration trellis-trellis-injector does not exist/);
  assert.match(lines[0]?.hint ?? "", /meshctl install/);
});

test("a configuration calling something else than the injector's Service fails", async () => {
  const fake = await installed();
  const hook = (fake.objects[CONFIG_PATH] as { webhooks: { clientConfig: unknown }[] }).webhooks[0];
  if (hook) hook.clientConfig = { url: "https://elsewhere.example/inject" };
  const r = await results(fake);
  assert.match(r.get("injector webhook configuration exists")?.error ?? "", /calls https:\/\/elsewhere/);
});

test("a serving certificate expiring within 60 days warns; an expired one fails", async () => {
  const soon = await results(await installed(30 * DAY));
  assert.equal(soon.get("injector serving certificate is valid for at least 60 days")?.result, "warning");
  assert.equal(soon.get("injector serving certificate is within its validity period")?.result, "success");
  const expired = await results(await installed(DAY, new Date(Date.now() - 10 * DAY)));
  assert.equal(expired.get("injector serving certificate is within its validity period")?.result, "error");
  assert.match(
    expired.get("injector serving certificate is within its validity period")?.error ?? "",
    /not now/,
  );
});

test("the API server's x509 error fails the caBundle line naming the configuration; other refusals name their reason", async () => {
  const fake = await installed();
  fake.post = () => ({
    ok: false,
    status: 500,
    reason:
      'HTTP 500: Internal error occurred: failed calling webhook "inject.trellis.dev": failed to call webhook: Post "https://trellis-injector.trellis.svc:443/inject?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority',
  });
  const x509 = (await results(fake)).get(CA_LINE);
  assert.equal(x509?.result, "error");
  assert.match(
    x509?.error ?? "",
    /does not trust the certificate the injector presents with the caBundle of MutatingWebhookConfiguration trellis-trellis-injector/,
  );
  assert.match(x509?.hint ?? "", /ca\.crt of Secret trellis\/trellis-injector-tls/);

  fake.post = () => ({ ok: false, status: 500, reason: "HTTP 500: no endpoints available for service" });
  assert.match(
    (await results(fake)).get(CA_LINE)?.error ?? "",
    /in namespace default was refused: .*no endpoints/,
  );

  fake.post = (_p, body) => ({ ok: true, status: 201, body });
  assert.match((await results(fake)).get(CA_LINE)?.error ?? "", /came back without trellis-proxy/);
});

test("the dry run goes to a namespace the selector covers: not default once default opts out", async () => {
  const fake = await installed();
  const namespaces = fake.objects["/api/v1/namespaces"] as {
    items: { metadata: { labels: Record<string, string> } }[];
  };
  const def = namespaces.items[0];
  if (def) def.metadata.labels["trellis.dev/admission-webhooks"] = "disabled";
  await results(fake);
  assert.equal(fake.posted[0]?.path, "/api/v1/namespaces/shop/pods?dryRun=All");
  // No namespace covered at all: a warning, nothing posted.
  for (const n of namespaces.items) n.metadata.labels["trellis.dev/admission-webhooks"] = "disabled";
  const none = await installed();
  none.objects["/api/v1/namespaces"] = namespaces;
  assert.equal((await results(none)).get(CA_LINE)?.result, "warning");
  assert.equal(none.posted.length, 0);
});

test("label selectors: matchLabels and the four operators", () => {
  const labels = { a: "1", b: "2" };
  assert.ok(selectorMatches(undefined, labels));
  assert.ok(selectorMatches({ matchLabels: { a: "1" } }, labels));
  assert.ok(!selectorMatches({ matchLabels: { a: "2" } }, labels));
  const e = (operator: string, values?: string[]) => ({ matchExpressions: [{ key: "a", operator, values }] });
  assert.ok(selectorMatches(e("In", ["1", "3"]), labels));
  assert.ok(!selectorMatches(e("In", ["3"]), labels));
  assert.ok(selectorMatches(e("NotIn", ["3"]), labels));
  assert.ok(!selectorMatches(e("NotIn", ["1"]), labels));
  assert.ok(selectorMatches(e("NotIn", ["1"]), { b: "2" }), "NotIn holds where the key is absent");
  assert.ok(selectorMatches(e("Exists"), labels));
  assert.ok(!selectorMatches(e("DoesNotExist"), labels));
  assert.ok(!selectorMatches(e("Bogus"), labels));
});
