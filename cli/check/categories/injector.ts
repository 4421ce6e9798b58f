/**
 * The injector webhook: its configuration present and pointing at the injector's Service, the injector
 * ready, its serving certificate (the Secret it mounts) valid now (×) and for 60 more days (‼), and the
 * proof that matters: the API server calls it and trusts what it presents.
 *
 * That last check creates a Pod annotated for injection as a server-side dry run (nothing is stored)
 * in a namespace the webhook covers. The API server then calls the injector exactly as for a real pod,
 * over TLS verified against the configuration's caBundle: a caBundle that does not verify the
 * certificate the injector actually serves fails with the API server's x509 error, an injector that
 * cannot be reached fails with its reason, and a working one sends the pod back with its proxy. A
 * comparison of the Secret with the caBundle would miss an injector still serving an old certificate;
 * reaching the injector through the API server's service proxy would not verify its certificate at all.
 */
import type { V1MutatingWebhookConfiguration, V1Namespace, V1Pod, V1Secret } from "@kubernetes/client-node";
import { ANNOTATIONS } from "../../../control/common/annotations.js";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import {
  IMAGE_REPOSITORY,
  INJECTOR_ADMIN_PORT,
  INJECTOR_TLS_SECRET,
  INJECTOR_WEBHOOK_NAME,
  injectorWebhookConfigurationName,
  LABEL_COMPONENT,
} from "../../install/index.js";
import { getObject, listItems, objectPath } from "../api.js";
import type { Category, CheckContext, Finding } from "../types.js";
import { adminReady, EXPIRY_WARNING_DAYS, notExpiringSoon, parseBundle, timeValid } from "./identity.js";

const REINSTALL =
  "re-apply the output of `meshctl install` (it renders the webhook configuration, the Secret and the Deployment together)";
const RENEW =
  "renew the serving certificate: re-apply `meshctl install` (new certificate and caBundle together), or renew the Secret trellis-injector-tls with its issuer (cert-manager)";

type Webhook = NonNullable<V1MutatingWebhookConfiguration["webhooks"]>[number];

/** Our webhook in the cluster's configuration; throws naming what is missing. */
async function webhook(ctx: CheckContext): Promise<Webhook> {
  const name = injectorWebhookConfigurationName(ctx.namespace);
  const config = await getObject<V1MutatingWebhookConfiguration>(
    ctx,
    objectPath("MutatingWebhookConfiguration", undefined, name),
  );
  if (!config) throw new Error(`the MutatingWebhookConfiguration ${name} does not exist`);
  const hook = config.webhooks?.find((w) => w.name === INJECTOR_WEBHOOK_NAME);
  if (!hook)
    throw new Error(`the MutatingWebhookConfiguration ${name} has no webhook ${INJECTOR_WEBHOOK_NAME}`);
  return hook;
}

async function servingCertificate(ctx: CheckContext) {
  const secret = await getObject<V1Secret>(ctx, objectPath("Secret", ctx.namespace, INJECTOR_TLS_SECRET));
  const source = `Secret ${ctx.namespace}/${INJECTOR_TLS_SECRET}`;
  if (!secret) throw new Error(`${source} does not exist`);
  const pem = Buffer.from(secret.data?.["tls.crt"] ?? "", "base64").toString("utf8");
  return parseBundle(pem, `${source} key tls.crt`).slice(0, 1);
}

type Selector = Webhook["namespaceSelector"];

/** Whether a namespace's labels match a label selector (matchLabels and every expression). */
export function selectorMatches(selector: Selector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const ok =
      e.operator === "In"
        ? has && (e.values ?? []).includes(value as string)
        : e.operator === "NotIn"
          ? !has || !(e.values ?? []).includes(value as string)
          : e.operator === "Exists"
            ? has
            : e.operator === "DoesNotExist"
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

/** A namespace the webhook covers, `default` when it does: where the dry-run pod is created. */
async function coveredNamespace(ctx: CheckContext, selector: Selector): Promise<string | undefined> {
  const names = (await listItems<V1Namespace>(ctx, "/api/v1/namespaces"))
    .filter((n) => n.status?.phase !== "Terminating")
    .filter((n) => selectorMatches(selector, n.metadata?.labels ?? {}))
    .map((n) => n.metadata?.name ?? "")
    .filter((n) => n !== "")
    .sort();
  return names.includes("default") ? "default" : names[0];
}

/** The Pod the API server is asked to create, as a dry run. */
function probePod(ctx: CheckContext): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "trellis-check-",
      labels: { "trellis.dev/check": "injector" },
      annotations: { [ANNOTATIONS.INJECT]: "enabled" },
    },
    spec: { containers: [{ name: "check", image: `${IMAGE_REPOSITORY}:${ctx.version}` }] },
  };
}

/** The API server's verdict on a dry-run Pod that the webhook must inject. */
export async function webhookCallable(ctx: CheckContext): Promise<Finding> {
  const hook = await webhook(ctx);
  const ns = await coveredNamespace(ctx, hook.namespaceSelector);
  if (!ns)
    return {
      warning: "no namespace is covered by the webhook's namespaceSelector, so nothing can be injected",
    };
  const r = await ctx.api.post<V1Pod>(`/api/v1/namespaces/${ns}/pods?dryRun=All`, probePod(ctx));
  const config = injectorWebhookConfigurationName(ctx.namespace);
  if (!r.ok) {
    if (/x509|certificate/i.test(r.reason))
      return {
        error: `the API server does not trust the certificate the injector presents with the caBundle of MutatingWebhookConfiguration ${config}:\n${r.reason}`,
      };
    return { error: `a dry-run Pod in namespace ${ns} was refused: ${r.reason}` };
  }
  const containers = [...(r.body.spec?.initContainers ?? []), ...(r.body.spec?.containers ?? [])];
  if (!containers.some((c) => c.name === PROXY_CONTAINER))
    return {
      error: `a dry-run Pod annotated for injection in namespace ${ns} came back without ${PROXY_CONTAINER}: the API server did not have the injector inject it`,
    };
  return undefined;
}

export const trellisInjector: Category = {
  name: "trellis-injector",
  checks: [
    {
      description: "injector webhook configuration exists",
      hint: REINSTALL,
      fatal: "category",
      async run(ctx) {
        const hook = await webhook(ctx);
        const service = hook.clientConfig.service;
        if (service?.name !== "trellis-injector" || service.namespace !== ctx.namespace)
          return {
            error: `the webhook ${INJECTOR_WEBHOOK_NAME} calls ${service ? `Service ${service.namespace}/${service.name}` : hook.clientConfig.url}, not ${ctx.namespace}/trellis-injector`,
          };
        return undefined;
      },
    },
    {
      description: "injector is ready to admit pods",
      hint: "see the injector pod's log: `kubectl -n <namespace> logs deploy/trellis-injector`",
      retryable: true,
      async run(ctx) {
        const selector = encodeURIComponent(`${LABEL_COMPONENT}=injector`);
        const pods = await listItems<V1Pod>(
          ctx,
          `/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${selector}`,
        );
        return adminReady(ctx, pods, INJECTOR_ADMIN_PORT, "injector");
      },
    },
    {
      description: "injector serving certificate is within its validity period",
      hint: RENEW,
      async run(ctx) {
        return timeValid(await servingCertificate(ctx), ctx.now());
      },
    },
    {
      description: `injector serving certificate is valid for at least ${EXPIRY_WARNING_DAYS} days`,
      hint: RENEW,
      async run(ctx) {
        return notExpiringSoon(await servingCertificate(ctx), ctx.now());
      },
    },
    {
      description: "injector webhook's caBundle verifies the certificate the injector presents",
      hint: `the caBundle of MutatingWebhookConfiguration trellis-<namespace>-injector must hold the CA that signed the injector's certificate (the ca.crt of Secret <namespace>/${INJECTOR_TLS_SECRET}): ${REINSTALL}`,
      retryable: true,
      run: webhookCallable,
    },
  ],
};
