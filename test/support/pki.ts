/**
 * The one place tests make certificates, all ECDSA P-256, generated in memory per run:
 *
 * - The mesh PKI (makeMeshPki), made with the real CA code (control/identity/ca.ts): trust anchor →
 *   issuer → leaves, optionally written to files the identity service can load. Leaves can be made
 *   expired or with a chosen NotAfter (proxies with stale certificates), and makeForeignPki() gives
 *   another root for clients the mesh must not trust.
 * - Raw certificates of any shape (createCa, signCert, issueCert), for what the real CA never makes:
 *   what a broken identity service would send (wrong key, wrong SAN, a CA, expired, another root:
 *   createTestPki and issueLeaf), leaves with DNS SANs for peers that check only those (nginx in the
 *   benchmark), plain TLS servers and clients (a stand-in API server, the cluster test bed's API
 *   server and admin, webhooks).
 * - Certificates made by openssl (opensslCert), not by our own encoder, so the DER reader is held to
 *   what another implementation writes.
 */
import { spawnSync } from "node:child_process";
import { webcrypto, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CertificateAndKeyPem,
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
} from "../../control/identity/ca.js";
import { formatSpiffeId } from "../../lib/spiffe.js";
import * as x509 from "../../lib/x509.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const ES256 = { ...P256, hash: "SHA-256" } as const;
const MINUTE = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
// The mesh anchor and issuer start this long ago, so leaves can be back-dated into the past (expired ones).
const BACKDATE_MS = 48 * HOUR;

// ── Raw certificates ──────────────────────────────────────────────────────────────────────────────

/** A certificate with its key pair, parsed and as PEM. */
export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export async function newKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ES256, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function toIssued(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  return { cert, keys, certPem: cert.toString("pem"), keyPem: await pkcs8Pem(keys.privateKey) };
}

export interface CaOptions {
  /** Signs the new CA (an intermediate); self-signed when absent. */
  parent?: Issued;
  /** BasicConstraints pathLenConstraint; 0 by default (it signs leaves only). */
  pathLen?: number;
  /** From a minute ago by default. */
  notBefore?: Date;
  /** A week from now by default. */
  notAfter?: Date;
}

/** A CA certificate for `CN=<commonName>` that can sign certificates (keyCertSign, cRLSign). */
export async function createCa(commonName: string, options: CaOptions = {}): Promise<Issued> {
  const now = Date.now();
  const keys = await newKeys();
  const validity = {
    notBefore: options.notBefore ?? new Date(now - MINUTE),
    notAfter: options.notAfter ?? new Date(now + 7 * DAY),
  };
  const extensions = [
    new x509.BasicConstraintsExtension(true, options.pathLen ?? 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const parent = options.parent;
  const cert = parent
    ? await x509.X509CertificateGenerator.create({
        subject: `CN=${commonName}`,
        issuer: parent.cert.subject,
        ...validity,
        signingAlgorithm: ES256,
        publicKey: keys.publicKey,
        signingKey: parent.keys.privateKey,
        extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey)],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        name: `CN=${commonName}`,
        ...validity,
        signingAlgorithm: ES256,
        keys,
        extensions,
      });
  return toIssued(cert, keys);
}

/** What a certificate signed by a CA says. */
export interface CertOptions {
  /** The subject's CN; the subject is empty when absent (a mesh leaf names itself by its URI SAN). */
  commonName?: string;
  /** The subject's O values: Kubernetes reads them as a client's groups. */
  organizations?: string[];
  uris?: string[];
  dns?: string[];
  ips?: string[];
  /** The extended key usage; server and client by default. */
  usage?: "server" | "client" | "both";
  /** From a minute ago by default. */
  notBefore?: Date;
  /** A week from now by default. */
  notAfter?: Date;
  /** Make a CA certificate instead of a leaf (a broken identity service's answer). */
  ca?: boolean;
}

/** A certificate for `publicKey`, signed by `issuer`. */
export async function signCert(
  issuer: Issued,
  publicKey: CryptoKey,
  options: CertOptions = {},
): Promise<x509.X509Certificate> {
  const now = Date.now();
  const subject = options.commonName
    ? [`CN=${options.commonName}`, ...(options.organizations ?? []).map((o) => `O=${o}`)].join(", ")
    : "";
  const eku = {
    server: [x509.ExtendedKeyUsage.serverAuth],
    client: [x509.ExtendedKeyUsage.clientAuth],
    both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  }[options.usage ?? "both"];
  const sans = [
    ...(options.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  return x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer.cert.subject,
    notBefore: options.notBefore ?? new Date(now - MINUTE),
    notAfter: options.notAfter ?? new Date(now + 7 * DAY),
    signingAlgorithm: ES256,
    publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(eku),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
}

/** A certificate for a fresh key, signed by `issuer`. */
export async function issueCert(issuer: Issued, options: CertOptions = {}): Promise<Issued> {
  const keys = await newKeys();
  return toIssued(await signCert(issuer, keys.publicKey, options), keys);
}

/** A trust anchor and an issuer it signed, made without the real CA code. */
export interface TestPki {
  anchor: Issued;
  issuer: Issued;
}

/** A fresh trust anchor and issuer (`CN=root.<name>.trellis`, `CN=identity.<name>.trellis`), valid from an hour ago for a day. */
export async function createTestPki(name = "test"): Promise<TestPki> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + DAY) };
  const anchor = await createCa(`root.${name}.trellis`, { pathLen: 1, ...validity });
  const issuer = await createCa(`identity.${name}.trellis`, { parent: anchor, pathLen: 0, ...validity });
  return { anchor, issuer };
}

export interface IssueLeafOptions extends Omit<CertOptions, "uris"> {
  /** The URI SANs (one for a mesh certificate). */
  uris: string[];
  /** The key to certify; a fresh one when absent. */
  publicKey?: CryptoKey;
}

/** A mesh leaf (empty subject, server and client use) signed by the PKI's issuer, valid for a day by default. */
export async function issueLeaf(pki: TestPki, options: IssueLeafOptions): Promise<x509.X509Certificate> {
  const { publicKey, ...rest } = options;
  return signCert(pki.issuer, publicKey ?? (await newKeys()).publicKey, {
    notAfter: new Date(Date.now() + DAY),
    ...rest,
  });
}

/** A serving certificate (leaf + issuer PEM, key PEM) for a server with the given SPIFFE ID. */
export async function serverCertificate(
  pki: TestPki,
  uri: string,
  dns: string[] = [],
): Promise<{ chainPem: string; keyPem: string }> {
  const keys = await newKeys();
  const leaf = await toIssued(await issueLeaf(pki, { uris: [uri], dns, publicKey: keys.publicKey }), keys);
  return { chainPem: `${leaf.certPem}\n${pki.issuer.certPem}\n`, keyPem: leaf.keyPem };
}

/** The public key inside a DER CSR, after checking its signature (proof of possession). */
export async function csrPublicKey(
  der: Uint8Array,
): Promise<{ key: CryptoKey; uris: string[]; subject: string }> {
  const csr = new x509.Pkcs10CertificateRequest(Buffer.from(der));
  if (!(await csr.verify())) throw new Error("CSR signature does not verify");
  const san = csr.getExtension("2.5.29.17") as x509.SubjectAlternativeNameExtension | null;
  const uris = (san?.names.items ?? []).filter((n) => n.type === "url").map((n) => n.value);
  return { key: await csr.publicKey.export(ES256, ["verify"]), uris, subject: csr.subject };
}

/** A plain TLS CA and a server certificate for 127.0.0.1 and localhost (stand-in API servers, webhooks). */
export async function makeLoopbackServerCert(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ca = await createCa("loopback.test");
  const server = await issueCert(ca, {
    commonName: "127.0.0.1",
    ips: ["127.0.0.1"],
    dns: ["localhost"],
    usage: "server",
    notAfter: new Date(Date.now() + DAY),
  });
  return { caPem: ca.certPem, certPem: `${server.certPem}\n`, keyPem: server.keyPem };
}

// ── The mesh PKI, through the real CA ─────────────────────────────────────────────────────────────

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

// ── Certificates from another implementation ──────────────────────────────────────────────────────

/**
 * `openssl req -x509` with the given `-addext` values: a self-signed ECDSA P-256 certificate whose only
 * differences are those extensions (none at all gives a v1 certificate); an empty config keeps
 * openssl's default v3_ca extensions out.
 */
export async function opensslCert(...addext: string[]): Promise<X509Certificate> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-der-"));
  try {
    await writeFile(join(dir, "empty.cnf"), "");
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    args.push("-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=der.test", "-days", "1");
    args.push("-config", "empty.cnf", ...addext.flatMap((e) => ["-addext", e]));
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    return new X509Certificate(await readFile(join(dir, "cert.pem")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
