/**
 * The mesh CA: a loaded issuer (certificate, key, the chain up to a trust anchor) that signs leaf
 * certificates for CSRs the identity service has authorised. Loading validates everything an issuer
 * must satisfy before it signs anything; issuing checks the CSR (proof of possession, ECDSA P-256, the
 * identity URI as its only SAN) and makes a leaf that can only be a TLS client or server certificate.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import * as x509 from "../../lib/x509.js";
import { DEFAULT_CLOCK_SKEW_MS, randomSerial, SIGNING_ALGORITHM } from "./certs.js";
import { checkCsr } from "./csr.js";
import {
  type CertifyErrorCode,
  IdentityError,
  type IdentityErrorCode,
  type Refusal,
  refuse,
} from "./errors.js";

export {
  type CaCertificateOptions,
  type CertificateAndKeyPem,
  createIssuer,
  createTrustAnchor,
  DEFAULT_CLOCK_SKEW_MS,
} from "./certs.js";

export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3600_000;

/** The PEM a CA is loaded from, and the names to use for each in error messages (file paths). */
export interface CaSources {
  trustAnchorsPem: string;
  issuerCertPem: string;
  issuerKeyPem: string;
  now?: Date;
  /** How to name each input in errors; the field names by default, the file paths from the service. */
  names?: { trustAnchors?: string; issuerCertificate?: string; issuerKey?: string };
}

export interface IssueOptions {
  /** How long the leaf is valid from now; 24 h by default. Clamped to the issuer's NotAfter. */
  lifetimeMs?: number;
  /** How far NotBefore is back-dated; 20 s by default. */
  clockSkewMs?: number;
  now?: Date;
}

/** A signed leaf. */
export interface Issued {
  ok: true;
  leafDer: Uint8Array<ArrayBuffer>;
  /** The issuer, then any intermediates between it and the trust anchor. */
  intermediatesDer: Uint8Array<ArrayBuffer>[];
  validUntil: Date;
}

export type IssueResult = Issued | Refusal<CertifyErrorCode>;
export type LoadResult = { ok: true; ca: CertificateAuthority } | Refusal;

type CertResult<T> = { ok: true; value: T } | Refusal;

export class CertificateAuthority {
  private constructor(
    /** The issuer certificate. */
    readonly issuer: X509Certificate,
    /** The issuer, then any intermediates up to the anchor, as sent with every leaf. */
    readonly chain: readonly X509Certificate[],
    readonly trustAnchors: readonly X509Certificate[],
    private readonly signingKey: CryptoKey,
    private readonly issuerName: x509.Name,
    private readonly issuerKeyId: string,
  ) {}

  /** The issuer's NotAfter. */
  get issuerNotAfter(): Date {
    return new Date(this.issuer.validTo);
  }

  /** The issuer's NotBefore. */
  get issuerNotBefore(): Date {
    return new Date(this.issuer.validFrom);
  }

  /**
   * Loads and validates a CA. Throws IdentityError naming the input and what to do when the anchors do
   * not parse or are not CAs, the issuer is not a CA, does not chain to an anchor, is not valid now, or
   * its key does not match.
   */
  static async load(sources: CaSources): Promise<CertificateAuthority> {
    const result = await CertificateAuthority.tryLoad(sources);
    if (!result.ok) throw new IdentityError(result.code, result.reason);
    return result.ca;
  }

  /** As load(), with the failure returned rather than thrown (used when reloading changed files). */
  static async tryLoad(sources: CaSources): Promise<LoadResult> {
    const names = {
      trustAnchors: sources.names?.trustAnchors ?? "trustAnchorsPem",
      issuerCertificate: sources.names?.issuerCertificate ?? "issuerCertPem",
      issuerKey: sources.names?.issuerKey ?? "issuerKeyPem",
    };
    const now = (sources.now ?? new Date()).getTime();

    const anchors = parseCertificates(
      sources.trustAnchorsPem,
      names.trustAnchors,
      "TRELLIS_E_IDENTITY_TRUST_ANCHORS",
    );
    if (!anchors.ok) return anchors;
    for (const [i, anchor] of anchors.value.entries()) {
      if (!isCa(anchor))
        return refuse(
          "TRELLIS_E_IDENTITY_TRUST_ANCHORS",
          `${names.trustAnchors}: certificate ${i + 1} (${describe(anchor)}) is not a CA; give the root certificate(s), not a leaf`,
        );
    }

    const certs = parseCertificates(
      sources.issuerCertPem,
      names.issuerCertificate,
      "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE",
    );
    if (!certs.ok) return certs;
    const [issuer, ...rest] = certs.value as [X509Certificate, ...X509Certificate[]];
    if (!isCa(issuer))
      return refuse(
        "TRELLIS_E_IDENTITY_ISSUER_CERTIFICATE",
        `${names.issuerCertificate}: ${describe(issuer)} is not a CA (it needs CA:TRUE and keyCertSign); give the issuer (intermediate) certificate`,
      );

    const chain = buildChain(issuer, rest, anchors.value, now, names);
    if (!chain.ok) return chain;

    const key = parseIssuerKey(sources.issuerKeyPem, issuer, names);
    if (!key.ok) return key;

    const parsed = new x509.X509Certificate(issuer.raw);
    const ski =
      parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
      (await x509.SubjectKeyIdentifierExtension.create(parsed.publicKey)).keyId;
    const der = key.value.export({ type: "pkcs8", format: "der" });
    const signingKey = await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    return {
      ok: true,
      ca: new CertificateAuthority(issuer, chain.value, anchors.value, signingKey, parsed.subjectName, ski),
    };
  }

  /**
   * Signs a leaf for `identity` (already authorised by the caller) if the CSR proves possession of an
   * ECDSA P-256 key and asks for exactly that identity. Never throws for a bad CSR.
   */
  async issue(csrDer: Uint8Array, identity: string, options: IssueOptions = {}): Promise<IssueResult> {
    const checked = await checkCsr(csrDer, identity);
    if (!checked.ok) return checked;

    const now = (options.now ?? new Date()).getTime();
    const notBefore = Date.parse(this.issuer.validFrom);
    const issuerNotAfter = Date.parse(this.issuer.validTo);
    if (now < notBefore || now >= issuerNotAfter)
      return refuse(
        "TRELLIS_E_IDENTITY_NO_VALID_ISSUER",
        `the issuer ${describe(this.issuer)} is valid from ${this.issuer.validFrom} to ${this.issuer.validTo}; rotate it`,
      );
    const lifetime = options.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    // Certificate times have second precision; round so NotAfter never exceeds the issuer's.
    const leafNotAfter = new Date(Math.floor(Math.min(now + lifetime, issuerNotAfter) / 1000) * 1000);
    const leafNotBefore = new Date(Math.floor((now - skew) / 1000) * 1000);

    try {
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: "",
        issuer: this.issuerName,
        notBefore: leafNotBefore,
        notAfter: leafNotAfter,
        signingAlgorithm: SIGNING_ALGORITHM,
        publicKey: checked.publicKey,
        signingKey: this.signingKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([
            x509.ExtendedKeyUsage.serverAuth,
            x509.ExtendedKeyUsage.clientAuth,
          ]),
          // Critical because the subject is empty (RFC 5280 4.2.1.6): the SAN is the whole identity.
          new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }], true),
          new x509.AuthorityKeyIdentifierExtension(this.issuerKeyId),
          await x509.SubjectKeyIdentifierExtension.create(checked.publicKey),
        ],
      });
      return {
        ok: true,
        leafDer: new Uint8Array(leaf.rawData),
        intermediatesDer: this.chain.map((c) => new Uint8Array(c.raw)),
        validUntil: leafNotAfter,
      };
    } catch (err) {
      return refuse("TRELLIS_E_IDENTITY_SIGNING_FAILED", (err as Error).message);
    }
  }
}

function parseCertificates(
  pem: string,
  name: string,
  code: IdentityErrorCode,
): CertResult<X509Certificate[]> {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    return refuse(code, `${name} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); check the file`);
  const certs: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(block));
    } catch (err) {
      return refuse(
        code,
        `${name}: certificate ${i + 1} does not parse (${(err as Error).message}); regenerate it`,
      );
    }
  }
  return { ok: true, value: certs };
}

/** CA:TRUE in basic constraints and, when key usage is present, keyCertSign. */
function isCa(cert: X509Certificate): boolean {
  const parsed = new x509.X509Certificate(cert.raw);
  if (parsed.getExtension(x509.BasicConstraintsExtension)?.ca !== true) return false;
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

function validAt(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo);
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** issuer → (intermediates from the issuer file) → an anchor; each signature and validity checked. */
function buildChain(
  issuer: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now: number,
  names: { trustAnchors: string; issuerCertificate: string },
): CertResult<X509Certificate[]> {
  if (!validAt(issuer, now))
    return refuse(
      "TRELLIS_E_IDENTITY_ISSUER_EXPIRED",
      `${names.issuerCertificate}: ${describe(issuer)} is valid from ${issuer.validFrom} to ${issuer.validTo}, not now (${new Date(now).toISOString()}); issue a new issuer certificate from the trust anchor`,
    );
  const chain = [issuer];
  let current = issuer;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    const anchor = anchors.find((a) => signedBy(current, a));
    if (anchor) {
      if (!validAt(anchor, now))
        return refuse(
          "TRELLIS_E_IDENTITY_ISSUER_EXPIRED",
          `${names.trustAnchors}: the trust anchor ${describe(anchor)} that signed the issuer is valid from ${anchor.validFrom} to ${anchor.validTo}, not now; rotate the trust anchor`,
        );
      return { ok: true, value: chain };
    }
    const next = intermediates.find((c) => !chain.includes(c) && isCa(c) && signedBy(current, c));
    if (!next) break;
    if (!validAt(next, now))
      return refuse(
        "TRELLIS_E_IDENTITY_ISSUER_EXPIRED",
        `${names.issuerCertificate}: the intermediate ${describe(next)} is not valid now`,
      );
    chain.push(next);
    current = next;
  }
  return refuse(
    "TRELLIS_E_IDENTITY_ISSUER_UNTRUSTED",
    `${names.issuerCertificate}: ${describe(issuer)} is not signed by any certificate in ${names.trustAnchors}; issue it from the trust anchor, or give the anchor that signed it`,
  );
}

function parseIssuerKey(
  pem: string,
  issuer: X509Certificate,
  names: { issuerKey: string; issuerCertificate: string },
): CertResult<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    return refuse(
      "TRELLIS_E_IDENTITY_ISSUER_KEY",
      `${names.issuerKey} is not a PEM private key (${(err as Error).message}); give the issuer's PKCS#8 or EC private key`,
    );
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    return refuse(
      "TRELLIS_E_IDENTITY_ISSUER_KEY",
      `${names.issuerKey} is a ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ""} key; the issuer key must be ECDSA P-256`,
    );
  const fromKey = createPublicKey(key).export({ type: "spki", format: "der" });
  const fromCert = issuer.publicKey.export({ type: "spki", format: "der" });
  if (!fromKey.equals(fromCert))
    return refuse(
      "TRELLIS_E_IDENTITY_ISSUER_KEY",
      `${names.issuerKey} does not match the public key of ${names.issuerCertificate}; give the key the issuer certificate was made for`,
    );
  return { ok: true, value: key };
}

function describe(cert: X509Certificate): string {
  const subject = (cert.subject ?? "").replace(/\n/g, ", ");
  return subject ? `"${subject}"` : `certificate serial ${cert.serialNumber}`;
}
