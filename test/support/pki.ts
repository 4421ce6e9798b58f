/**
 * A mesh PKI for tests, made with the real CA code (control/identity/ca.ts): trust anchor → issuer →
 * leaves, all ECDSA P-256, generated in memory per run and optionally written to files the identity
 * service can load. Leaves can be made expired or with a chosen NotAfter (proxies with stale
 * certificates), and makeForeignPki() gives another root for clients the mesh must not trust.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type CertificateAndKeyPem,
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
} from "../../control/identity/ca.js";
import { formatSpiffeId } from "../../lib/spiffe.js";
import * as x509 from "../../lib/x509.js";

const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const HOUR = 3600_000;
// The anchor and issuer start this long ago, so leaves can be back-dated into the past (expired ones).
const BACKDATE_MS = 48 * HOUR;

export interface PkiFiles {
  trustAnchors: string;
  issuerCert: string;
  issuerKey: string;
}

export interface LeafOptions {
  /** A leaf that expired an hour ago (valid for the hour before that). */
  expired?: boolean;
  /** The leaf's NotAfter (rounded down to the second); 24 h from now by default. */
  notAfter?: Date;
}

/** A leaf with its key, as a proxy would hold them. */
export interface TestLeaf {
  /** The leaf then the issuer, PEM: what a TLS server or client presents. */
  certChainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** The leaf alone, PEM. */
  certPem: string;
}

export interface MeshPki {
  trustDomain: string;
  anchor: CertificateAndKeyPem;
  issuer: CertificateAndKeyPem;
  /** The loaded CA (the same code the identity service runs). */
  ca: CertificateAuthority;
  /** Set when makeMeshPki was given a dir. */
  files?: PkiFiles;
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`. */
  identity(namespace: string, serviceAccount: string): string;
  /** Issues a leaf for the SPIFFE ID through the real CA, for a fresh key. */
  leaf(identity: string, options?: LeafOptions): Promise<TestLeaf>;
  /** Writes anchor, issuer certificate and key as PEM files into dir. */
  writeFiles(dir: string): Promise<PkiFiles>;
}

export interface MeshPkiOptions {
  trustDomain?: string;
  /** Also write the PEM files here (see MeshPki.files). */
  dir?: string;
}

/** A CSR for a fresh P-256 key whose only SAN is the identity URI, as the proxy makes it. */
export async function makeCsr(
  identity: string,
  sans: { type: "url" | "dns" | "ip" | "email"; value: string }[] = [{ type: "url", value: identity }],
  algorithm: EcKeyGenParams | RsaHashedKeyGenParams = P256,
): Promise<{ csrDer: Uint8Array<ArrayBuffer>; keys: CryptoKeyPair }> {
  const keys = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const signingAlgorithm =
    algorithm.name === "ECDSA"
      ? { ...algorithm, hash: (algorithm as EcKeyGenParams).namedCurve === "P-384" ? "SHA-384" : "SHA-256" }
      : algorithm;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "",
    keys,
    signingAlgorithm,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return { csrDer: new Uint8Array(csr.rawData), keys };
}

export async function makeMeshPki(options: MeshPkiOptions = {}): Promise<MeshPki> {
  const trustDomain = options.trustDomain ?? "cluster.local";
  const start = new Date(Date.now() - BACKDATE_MS);
  const anchor = await createTrustAnchor({ trustDomain, now: start });
  const issuer = await createIssuer(anchor, { trustDomain, now: start });
  const ca = await CertificateAuthority.load({
    trustAnchorsPem: anchor.certPem,
    issuerCertPem: issuer.certPem,
    issuerKeyPem: issuer.keyPem,
  });

  const pki: MeshPki = {
    trustDomain,
    anchor,
    issuer,
    ca,
    identity: (namespace, serviceAccount) => formatSpiffeId({ trustDomain, namespace, serviceAccount }),
    async leaf(identity, leafOptions = {}) {
      const { csrDer, keys } = await makeCsr(identity);
      const now = Date.now();
      const issueAt = leafOptions.expired ? new Date(now - 2 * HOUR) : new Date(now);
      const notAfter = leafOptions.expired
        ? now - HOUR
        : (leafOptions.notAfter?.getTime() ?? now + 24 * HOUR);
      const issued = await ca.issue(csrDer, identity, {
        now: issueAt,
        lifetimeMs: notAfter - issueAt.getTime(),
      });
      if (!issued.ok)
        throw new Error(`test PKI could not issue ${identity}: ${issued.code}: ${issued.reason}`);
      const certPem = new x509.X509Certificate(issued.leafDer).toString("pem");
      return {
        certPem: `${certPem}\n`,
        certChainPem: `${certPem}\n${issuer.certPem.trim()}\n`,
        keyPem: x509.PemConverter.encode(
          await crypto.subtle.exportKey("pkcs8", keys.privateKey),
          "PRIVATE KEY",
        ),
      };
    },
    async writeFiles(dir) {
      await mkdir(dir, { recursive: true });
      const files = {
        trustAnchors: join(dir, "ca.crt"),
        issuerCert: join(dir, "issuer.crt"),
        issuerKey: join(dir, "issuer.key"),
      };
      await writeFile(files.trustAnchors, anchor.certPem);
      await writeFile(files.issuerCert, issuer.certPem);
      await writeFile(files.issuerKey, issuer.keyPem, { mode: 0o600 });
      return files;
    },
  };
  if (options.dir) pki.files = await pki.writeFiles(options.dir);
  return pki;
}

/** Another mesh PKI with its own root: nothing it signs chains to a makeMeshPki() anchor. */
export function makeForeignPki(options: MeshPkiOptions = {}): Promise<MeshPki> {
  return makeMeshPki(options);
}

/** A plain TLS CA and a server certificate for 127.0.0.1 and localhost (stand-in API servers, webhooks). */
export async function makeLoopbackServerCert(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const anchor = await createTrustAnchor({ trustDomain: "loopback.test" });
  const anchorCert = new x509.X509Certificate(anchor.certPem);
  const anchorKey = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(anchor.keyPem),
    P256,
    false,
    ["sign"],
  );
  const keys = (await crypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: "CN=127.0.0.1",
    issuer: anchorCert.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * HOUR),
    signingAlgorithm: { ...P256, hash: "SHA-256" },
    publicKey: keys.publicKey,
    signingKey: anchorKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(anchorCert.publicKey),
    ],
  });
  return {
    caPem: anchor.certPem,
    certPem: `${cert.toString("pem")}\n`,
    keyPem: x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"),
  };
}
