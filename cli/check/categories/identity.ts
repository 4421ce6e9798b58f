/**
 * The mesh's PKI as the cluster holds it: the trust anchors of the ConfigMap valid now (×) and for 60
 * more days (‼), the issuer of the Secret valid, chaining to an anchor and matching its key, and the
 * identity service ready to issue with it (its admin /ready, through the API server's pod proxy, which
 * answers 200 only while it serves with a valid issuer).
 */
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import type { V1ConfigMap, V1Pod, V1Secret } from "@kubernetes/client-node";
import {
  IDENTITY_ADMIN_PORT,
  ISSUER_SECRET,
  LABEL_COMPONENT,
  TRUST_ROOTS_CONFIGMAP,
  TRUST_ROOTS_KEY,
} from "../../install/index.js";
import { bullets, getObject, isPodReady, listItems, objectPath } from "../api.js";
import type { Category, CheckContext, Finding } from "../types.js";

export const EXPIRY_WARNING_DAYS = 60;
const DAY_MS = 86_400_000;
const ROTATE_ANCHORS = "rotate the trust anchors (and the issuer they sign), then restart the meshed pods";
const ROTATE_ISSUER =
  "replace the issuer Secret with an issuer signed by a current trust anchor (`meshctl install` with --identity-* files, or cert-manager)";

/** Every certificate of a PEM bundle; throws naming the source when one does not parse. */
export function parseBundle(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${source} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`${source}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
}

async function anchors(ctx: CheckContext): Promise<X509Certificate[]> {
  const cm = await getObject<V1ConfigMap>(ctx, objectPath("ConfigMap", ctx.namespace, TRUST_ROOTS_CONFIGMAP));
  const source = `ConfigMap ${ctx.namespace}/${TRUST_ROOTS_CONFIGMAP}`;
  if (!cm) throw new Error(`${source} does not exist`);
  return parseBundle(cm.data?.[TRUST_ROOTS_KEY] ?? "", `${source} key ${TRUST_ROOTS_KEY}`);
}

async function issuer(ctx: CheckContext): Promise<{ chain: X509Certificate[]; keyPem: string }> {
  const secret = await getObject<V1Secret>(ctx, objectPath("Secret", ctx.namespace, ISSUER_SECRET));
  const source = `Secret ${ctx.namespace}/${ISSUER_SECRET}`;
  if (!secret) throw new Error(`${source} does not exist`);
  const field = (k: string) => Buffer.from(secret.data?.[k] ?? "", "base64").toString("utf8");
  return { chain: parseBundle(field("tls.crt"), `${source} key tls.crt`), keyPem: field("tls.key") };
}

function subject(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ", ");
}

/** × outside its validity window. */
export function timeValid(certs: readonly X509Certificate[], now: Date): Finding {
  const bad = certs
    .filter((c) => now.getTime() < Date.parse(c.validFrom) || now.getTime() >= Date.parse(c.validTo))
    .map((c) => `${subject(c)} is valid from ${c.validFrom} to ${c.validTo}, not now`);
  return bad.length === 0 ? undefined : { error: bad.join("\n") };
}

/** ‼ when it expires within {@link EXPIRY_WARNING_DAYS} days. */
export function notExpiringSoon(certs: readonly X509Certificate[], now: Date): Finding {
  const soon = certs
    .filter((c) => Date.parse(c.validTo) - now.getTime() < EXPIRY_WARNING_DAYS * DAY_MS)
    .map((c) => `${subject(c)} expires on ${new Date(c.validTo).toISOString()}`);
  return soon.length === 0 ? undefined : { warning: soon.join("\n") };
}

/** Whether the chain (issuer first, then intermediates) ends at one of the anchors, every link signed. */
export function chainsToAnchor(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
): Finding {
  const [first, ...rest] = chain;
  if (!first) return { error: "the issuer Secret holds no certificate" };
  let cert = first;
  const pool = [...rest];
  for (let depth = 0; depth <= chain.length; depth++) {
    if (roots.some((r) => cert.checkIssued(r) && cert.verify(r.publicKey))) return undefined;
    const next = pool.find((p) => cert.checkIssued(p) && cert.verify(p.publicKey));
    if (!next) break;
    cert = next;
  }
  return {
    error: `the issuer ${subject(first)} (issued by ${first.issuer.replace(/\n/g, ", ")}) is not signed by any trust anchor of ${TRUST_ROOTS_CONFIGMAP}`,
  };
}

async function identityPods(ctx: CheckContext): Promise<V1Pod[]> {
  const selector = encodeURIComponent(`${LABEL_COMPONENT}=identity`);
  return listItems<V1Pod>(ctx, `/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${selector}`);
}

export const trellisIdentity: Category = {
  name: "trellis-identity",
  checks: [
    {
      description: "trust anchors are readable",
      hint: `the ConfigMap ${TRUST_ROOTS_CONFIGMAP} must hold PEM certificates under ${TRUST_ROOTS_KEY}; re-apply \`meshctl install\``,
      fatal: "category",
      async run(ctx) {
        await anchors(ctx);
        return undefined;
      },
    },
    {
      description: "trust anchors are within their validity period",
      hint: ROTATE_ANCHORS,
      async run(ctx) {
        return timeValid(await anchors(ctx), ctx.now());
      },
    },
    {
      description: `trust anchors are valid for at least ${EXPIRY_WARNING_DAYS} days`,
      hint: ROTATE_ANCHORS,
      async run(ctx) {
        return notExpiringSoon(await anchors(ctx), ctx.now());
      },
    },
    {
      description: "issuer cert and key are readable",
      hint: `the Secret ${ISSUER_SECRET} must be of type kubernetes.io/tls with tls.crt and tls.key; ${ROTATE_ISSUER}`,
      fatal: "category",
      async run(ctx) {
        const { chain, keyPem } = await issuer(ctx);
        let key: ReturnType<typeof createPrivateKey>;
        try {
          key = createPrivateKey(keyPem);
        } catch (err) {
          return { error: `tls.key does not parse (${(err as Error).message})` };
        }
        const der = (k: ReturnType<typeof createPublicKey>) =>
          k.export({ type: "spki", format: "der" }).toString("base64");
        if (chain[0] && der(createPublicKey(key)) !== der(chain[0].publicKey))
          return { error: "tls.key is not the key of the certificate in tls.crt" };
        return undefined;
      },
    },
    {
      description: "issuer cert is within its validity period",
      hint: ROTATE_ISSUER,
      async run(ctx) {
        return timeValid((await issuer(ctx)).chain.slice(0, 1), ctx.now());
      },
    },
    {
      description: `issuer cert is valid for at least ${EXPIRY_WARNING_DAYS} days`,
      hint: ROTATE_ISSUER,
      async run(ctx) {
        return notExpiringSoon((await issuer(ctx)).chain.slice(0, 1), ctx.now());
      },
    },
    {
      description: "issuer cert is issued by the trust anchor",
      hint: ROTATE_ISSUER,
      async run(ctx) {
        return chainsToAnchor((await issuer(ctx)).chain, await anchors(ctx));
      },
    },
    {
      description: "identity service is ready to issue certificates",
      hint: "see the identity pod's log: `kubectl -n <namespace> logs deploy/trellis-identity`",
      retryable: true,
      async run(ctx) {
        return adminReady(ctx, await identityPods(ctx), IDENTITY_ADMIN_PORT, "identity");
      },
    },
  ],
};

/** Every pod's admin /ready answers 200, asked through the API server's pod proxy. */
export async function adminReady(
  ctx: CheckContext,
  pods: readonly V1Pod[],
  port: number,
  what: string,
): Promise<Finding> {
  const running = pods.filter((p) => p.status?.phase === "Running");
  if (running.length === 0) return { error: `no ${what} pod is running` };
  const faults: string[] = [];
  for (const p of running) {
    const name = `${p.metadata?.namespace}/${p.metadata?.name}`;
    const r = await ctx.api.getText(
      `/api/v1/namespaces/${p.metadata?.namespace}/pods/${p.metadata?.name}:${port}/proxy/ready`,
    );
    if (!r.ok) faults.push(`${name}: ${r.reason}`);
    else if (!isPodReady(p)) faults.push(`${name}: ready, but the pod is not marked Ready yet`);
  }
  return faults.length === 0 ? undefined : { error: bullets(`${what} not ready:`, faults) };
}
