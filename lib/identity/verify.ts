/**
 * Checks what the identity service returned before the proxy uses it: a certificate the proxy would
 * present must be for its own key, name exactly its identity, chain to the trust anchors and be valid
 * now. The service is trusted to sign, not to be right.
 */
import { X509Certificate } from "node:crypto";
import { uriSans } from "../spiffe.js";
import type { Credentials } from "./credentials.js";
import { basicConstraintsCa } from "./der.js";
import { type CertifyFailure, failure } from "./errors.js";

/** What a Certify response is checked against. */
export interface VerifyInput {
  /** Our SPIFFE ID: the leaf's only URI SAN. */
  identity: string;
  /** Our public key (DER SPKI): what the leaf must certify. */
  publicKeySpki: Buffer;
  /** Our private key (PKCS#8 PEM), carried into the credentials. */
  keyPem: string;
  leafDer: Uint8Array;
  intermediatesDer: Uint8Array[];
  anchors: readonly X509Certificate[];
  now: Date;
}

export type VerifyResult = { ok: true; credentials: Credentials } | { ok: false; error: CertifyFailure };

// Deep enough for anchor → intermediates → issuer → leaf; a longer chain is refused.
const MAX_CHAIN_DEPTH = 5;

/** Parses every certificate in a PEM bundle; throws (with the block number) on one that does not parse. */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate ${i + 1} of the bundle does not parse: ${(err as Error).message}`);
    }
  });
}

/** The validity window of a certificate, in epoch milliseconds. */
export function validity(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** Checks a Certify response; on success returns the credentials the proxy will serve. */
export function verifyIssued(input: VerifyInput): VerifyResult {
  let leaf: X509Certificate;
  const intermediates: X509Certificate[] = [];
  try {
    leaf = new X509Certificate(Buffer.from(input.leafDer));
  } catch (err) {
    return fail("TRELLIS_E_IDENTITY_CLIENT_MALFORMED", `leaf: ${(err as Error).message}`);
  }
  for (const [i, der] of input.intermediatesDer.entries()) {
    try {
      intermediates.push(new X509Certificate(Buffer.from(der)));
    } catch (err) {
      return fail("TRELLIS_E_IDENTITY_CLIENT_MALFORMED", `intermediate ${i + 1}: ${(err as Error).message}`);
    }
  }

  const leafKey = leaf.publicKey.export({ type: "spki", format: "der" });
  if (!leafKey.equals(input.publicKeySpki)) {
    return fail("TRELLIS_E_IDENTITY_CLIENT_KEY_MISMATCH", "the leaf's public key is not the one in our CSR");
  }
  const uris = uriSans(leaf.subjectAltName);
  if (uris.length !== 1 || uris[0] !== input.identity) {
    const found = uris.length === 0 ? "no URI SAN" : uris.join(", ");
    return fail("TRELLIS_E_IDENTITY_CLIENT_SAN_MISMATCH", `expected ${input.identity}, found ${found}`);
  }
  let isCa: boolean;
  try {
    isCa = claimsCa(leaf);
  } catch (err) {
    return fail("TRELLIS_E_IDENTITY_CLIENT_MALFORMED", `leaf extensions: ${(err as Error).message}`);
  }
  if (isCa) return fail("TRELLIS_E_IDENTITY_CLIENT_SAN_MISMATCH", "the leaf is a CA certificate");

  const now = input.now.getTime();
  const { notBefore, notAfter } = validity(leaf);
  if (!(notAfter > now) || !(notBefore <= now)) {
    return fail(
      "TRELLIS_E_IDENTITY_CLIENT_VALIDITY",
      `valid from ${leaf.validFrom} to ${leaf.validTo}, now is ${input.now.toISOString()}`,
    );
  }
  const untrusted = chainProblem(leaf, intermediates, input.anchors, now);
  if (untrusted) return fail("TRELLIS_E_IDENTITY_CLIENT_UNTRUSTED", untrusted);

  return {
    ok: true,
    credentials: Object.freeze({
      identity: input.identity,
      certChainPem: [leaf, ...intermediates].map((c) => c.toString().trim()).join("\n") + "\n",
      keyPem: input.keyPem,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
    }),
  };
}

/**
 * Walks from the leaf up through the intermediates to a trust anchor, checking each signature, that
 * each issuer is a CA and valid now. Returns why the chain fails, or undefined when it holds.
 */
function chainProblem(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now: number,
): string | undefined {
  let current = leaf;
  const used = new Set<X509Certificate>();
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const anchor = anchors.find((a) => issuedBy(current, a));
    if (anchor)
      return validNow(anchor, now) ? undefined : `the trust anchor ${anchor.subject} is not valid now`;
    const next = intermediates.find((c) => !used.has(c) && issuedBy(current, c));
    if (!next) return `no trust anchor or intermediate issued "${describe(current)}"`;
    if (!validNow(next, now)) return `the intermediate "${describe(next)}" is not valid now`;
    used.add(next);
    current = next;
  }
  return `the chain is longer than ${MAX_CHAIN_DEPTH}`;
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
}

/**
 * Whether the certificate's BasicConstraints say CA:TRUE. X509Certificate.ca is OpenSSL's
 * X509_check_ca, which says false for CA:TRUE without keyCertSign; a leaf claiming CA:TRUE at all is
 * refused, so the basic constraints themselves are read (./der.ts). Throws a DerError when the
 * certificate's extensions do not walk.
 */
export function claimsCa(cert: X509Certificate): boolean {
  return basicConstraintsCa(cert.raw);
}

function validNow(cert: X509Certificate, now: number): boolean {
  const { notBefore, notAfter } = validity(cert);
  return notBefore <= now && now < notAfter;
}

function describe(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ", ") || cert.subjectAltName || "(no subject)";
}

function fail(code: CertifyFailure["code"], detail: string): VerifyResult {
  return { ok: false, error: failure(code, detail) };
}
