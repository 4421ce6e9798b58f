/**
 * A throwaway mesh PKI for the identity client's tests: trust anchor → issuer → leaves, all ECDSA
 * P-256, generated in memory per test run. It can also make the certificates a broken CA would send
 * (wrong key, wrong SAN, expired, from another root), which the real identity service never does.
 */
import { webcrypto } from "node:crypto";
import * as x509 from "../../../lib/x509.js";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A certificate with its key pair. */
export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  anchor: Issued;
  issuer: Issued;
}

export async function newKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function toIssued(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    cert,
    keys,
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  };
}

const caExtensions = async (keys: CryptoKeyPair, parent?: CryptoKeyPair, pathLen = 1) => [
  new x509.BasicConstraintsExtension(true, pathLen, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ...(parent ? [await x509.AuthorityKeyIdentifierExtension.create(parent.publicKey)] : []),
];

/** A fresh trust anchor and issuer, valid from an hour ago for a day. */
export async function createTestPki(name = "test"): Promise<TestPki> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const now = Date.now();
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + 86_400_000);
  const anchorKeys = await newKeys();
  const anchorCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=root.${name}.trellis`,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys: anchorKeys,
    extensions: await caExtensions(anchorKeys),
  });
  const issuerKeys = await newKeys();
  const issuerCert = await x509.X509CertificateGenerator.create({
    subject: `CN=identity.${name}.trellis`,
    issuer: anchorCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    publicKey: issuerKeys.publicKey,
    signingKey: anchorKeys.privateKey,
    extensions: await caExtensions(issuerKeys, anchorKeys, 0),
  });
  return { anchor: await toIssued(anchorCert, anchorKeys), issuer: await toIssued(issuerCert, issuerKeys) };
}

export interface LeafOptions {
  /** The URI SANs (one for a mesh certificate). */
  uris: string[];
  /** DNS SANs, for peers that can only check DNS names (nginx in the benchmark). */
  dns?: string[];
  /** The key to certify; a fresh one when absent. */
  publicKey?: CryptoKey;
  notBefore?: Date;
  notAfter?: Date;
  /** Make a CA certificate instead of a leaf (a broken CA's answer). */
  ca?: boolean;
}

/** A leaf signed by the PKI's issuer. */
export async function issueLeaf(pki: TestPki, options: LeafOptions): Promise<x509.X509Certificate> {
  const now = Date.now();
  return x509.X509CertificateGenerator.create({
    subject: "",
    issuer: pki.issuer.cert.subject,
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 86_400_000),
    signingAlgorithm: ALG,
    publicKey: options.publicKey ?? (await newKeys()).publicKey,
    signingKey: pki.issuer.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        ...options.uris.map((value) => ({ type: "url" as const, value })),
        ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(pki.issuer.keys.publicKey),
    ],
  });
}

/** A serving certificate (leaf + issuer PEM, key PEM) for a server with the given SPIFFE ID. */
export async function serverCertificate(
  pki: TestPki,
  uri: string,
  dns: string[] = [],
): Promise<{ chainPem: string; keyPem: string }> {
  const keys = await newKeys();
  const leaf = await issueLeaf(pki, { uris: [uri], dns, publicKey: keys.publicKey });
  const issued = await toIssued(leaf, keys);
  return { chainPem: `${issued.certPem}\n${pki.issuer.certPem}\n`, keyPem: issued.keyPem };
}

/** The public key inside a DER CSR, after checking its signature (proof of possession). */
export async function csrPublicKey(
  der: Uint8Array,
): Promise<{ key: CryptoKey; uris: string[]; subject: string }> {
  const csr = new x509.Pkcs10CertificateRequest(Buffer.from(der));
  if (!(await csr.verify())) throw new Error("CSR signature does not verify");
  const san = csr.getExtension("2.5.29.17") as x509.SubjectAlternativeNameExtension | null;
  const uris = (san?.names.items ?? []).filter((n) => n.type === "url").map((n) => n.value);
  return { key: await csr.publicKey.export(ALG, ["verify"]), uris, subject: csr.subject };
}
