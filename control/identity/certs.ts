/**
 * Making the mesh's CA certificates: the self-signed trust anchor and the issuer (intermediate) it
 * signs, both ECDSA P-256, plus the small pieces every certificate the CA makes shares (random serials,
 * key export). `meshctl install`, the local mesh and the tests generate their PKI with these.
 */
import { randomBytes } from "node:crypto";
import * as x509 from "../../lib/x509.js";

/** ECDSA P-256 with SHA-256: the only algorithm the mesh CA signs with and accepts. */
export const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
export const SIGNING_ALGORITHM = { ...EC_P256, hash: "SHA-256" } as const;

/** Certificates start this much before they are made, so a peer whose clock is behind accepts them. */
export const DEFAULT_CLOCK_SKEW_MS = 20_000;
export const TRUST_ANCHOR_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
export const ISSUER_LIFETIME_MS = 365 * 24 * 3600_000;

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface CertificateAndKeyPem {
  certPem: string;
  keyPem: string;
}

export interface CaCertificateOptions {
  trustDomain: string;
  /** How long the certificate is valid; 10 years for an anchor, 1 year for an issuer by default. */
  lifetimeMs?: number;
  /** The clock; the certificate is valid from 20 s before it. */
  now?: Date;
}

/** A random positive 16-byte serial, as hex (the top bit clear so it stays positive and 16 bytes long). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString("hex");
}

export async function generateP256(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** PEM with a trailing newline, as files and concatenated bundles want it. */
export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem").trim()}\n`;
}

async function caExtensions(keys: CryptoKeyPair, pathLength: number | undefined, parentSki?: string) {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(parentSki ? [new x509.AuthorityKeyIdentifierExtension(parentSki)] : []),
  ];
}

function window(
  options: CaCertificateOptions,
  defaultLifetimeMs: number,
): { notBefore: Date; notAfter: Date } {
  const now = (options.now ?? new Date()).getTime();
  const lifetime = options.lifetimeMs ?? defaultLifetimeMs;
  if (!Number.isFinite(lifetime) || lifetime <= 0)
    throw new Error(`lifetimeMs must be above 0, got ${lifetime}`);
  return { notBefore: new Date(now - DEFAULT_CLOCK_SKEW_MS), notAfter: new Date(now + lifetime) };
}

/** A self-signed root: CA, keyCertSign + cRLSign, with a subject key identifier. 10 years by default. */
export async function createTrustAnchor(options: CaCertificateOptions): Promise<CertificateAndKeyPem> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=root.trellis.${options.trustDomain}`,
    ...window(options, TRUST_ANCHOR_LIFETIME_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: await caExtensions(keys, undefined),
  });
  return { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * An issuer signed by the anchor: CA with pathLen 0 (it signs leaves only), AKI/SKI. 1 year by default,
 * never past the anchor's NotAfter.
 */
export async function createIssuer(
  anchor: CertificateAndKeyPem,
  options: CaCertificateOptions,
): Promise<CertificateAndKeyPem> {
  const anchorCert = new x509.X509Certificate(anchor.certPem);
  const anchorKey = await importSigningKey(anchor.keyPem);
  const anchorSki = anchorCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await generateP256();
  const { notBefore, notAfter } = window(options, ISSUER_LIFETIME_MS);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=identity.trellis.${options.trustDomain}`,
    issuer: anchorCert.subjectName,
    notBefore,
    notAfter: new Date(Math.min(notAfter.getTime(), anchorCert.notAfter.getTime())),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: anchorKey,
    extensions: await caExtensions(
      keys,
      0,
      anchorSki ?? (await x509.SubjectKeyIdentifierExtension.create(anchorCert.publicKey)).keyId,
    ),
  });
  return { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Imports a PKCS#8 PEM P-256 private key for signing. Throws when it is anything else. */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem), EC_P256, false, ["sign"]);
}
