/**
 * The test bed's certificates, all made in process: a cluster CA, the API server's serving
 * certificate, client certificates (the admin in system:masters), serving certificates for webhooks
 * on 127.0.0.1, and the service-account signing key behind TokenRequest and TokenReview.
 */
import { generateKeyPairSync, webcrypto } from "node:crypto";
import * as x509 from "../../../lib/x509.js";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const day = 24 * 60 * 60 * 1000;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  cert: string;
  key: string;
}

/** A certificate authority that can issue more certificates. */
export interface TestCA extends KeyPairPem {
  readonly keys: CryptoKeyPair;
  readonly certificate: x509.X509Certificate;
}

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + 7 * day) };
}

/** A self-signed ECDSA P-256 CA valid for a week. */
export async function createCA(commonName: string): Promise<TestCA> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    ...validity(),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, certificate, cert: certificate.toString("pem"), key: await exportKey(keys.privateKey) };
}

/** What a leaf certificate is for and whom it names. */
export interface LeafOptions {
  commonName: string;
  /** Organisations: Kubernetes reads them as the client's groups. */
  organizations?: string[];
  ips?: string[];
  dnsNames?: string[];
  usage: "server" | "client" | "both";
}

/** Issues an ECDSA P-256 leaf certificate signed by the CA. */
export async function issue(ca: TestCA, opts: LeafOptions): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const subject = [`CN=${opts.commonName}`, ...(opts.organizations ?? []).map((o) => `O=${o}`)].join(", ");
  const eku = {
    server: [x509.ExtendedKeyUsage.serverAuth],
    client: [x509.ExtendedKeyUsage.clientAuth],
    both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  }[opts.usage];
  const sans = [
    ...(opts.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.certificate.subject,
    ...validity(),
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(eku),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
    ],
  });
  return { cert: certificate.toString("pem"), key: await exportKey(keys.privateKey) };
}

/** Every certificate and key the control plane is started with. */
export interface ClusterPki {
  ca: TestCA;
  apiserver: KeyPairPem;
  admin: KeyPairPem;
  /** Service-account token signing key (PKCS#8) and its public half (SPKI). */
  serviceAccount: { key: string; pub: string };
}

/**
 * The PKI of one cluster. The serving certificate names 127.0.0.1, the node gateway address through
 * which pods reach the API, and the first service address (the `kubernetes` Service).
 */
export async function createClusterPki(extraIps: string[]): Promise<ClusterPki> {
  const ca = await createCA("trellis-testbed-ca");
  const apiserver = await issue(ca, {
    commonName: "kube-apiserver",
    ips: ["127.0.0.1", ...extraIps],
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    usage: "server",
  });
  const admin = await issue(ca, { commonName: "admin", organizations: ["system:masters"], usage: "client" });
  const sa = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    ca,
    apiserver,
    admin,
    serviceAccount: {
      key: sa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      pub: sa.publicKey.export({ type: "spki", format: "pem" }).toString(),
    },
  };
}
