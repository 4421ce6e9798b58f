/**
 * Which certificates the test bed's control plane is started with, all made by the one test PKI
 * helper (test/support/pki.ts): a cluster CA, the API server's serving certificate, the admin's client
 * certificate (in system:masters), and the service-account signing key behind TokenRequest and
 * TokenReview.
 */
import { generateKeyPairSync } from "node:crypto";
import { createCa, type Issued, issueCert } from "../../support/pki.js";

/** Every certificate and key the control plane is started with. */
export interface ClusterPki {
  ca: Issued;
  apiserver: Issued;
  admin: Issued;
  /** Service-account token signing key (PKCS#8) and its public half (SPKI). */
  serviceAccount: { key: string; pub: string };
}

/**
 * The PKI of one cluster. The serving certificate names 127.0.0.1, the node gateway address through
 * which pods reach the API, and the first service address (the `kubernetes` Service).
 */
export async function createClusterPki(extraIps: string[]): Promise<ClusterPki> {
  const ca = await createCa("trellis-testbed-ca");
  const apiserver = await issueCert(ca, {
    commonName: "kube-apiserver",
    ips: ["127.0.0.1", ...extraIps],
    dns: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    usage: "server",
  });
  const admin = await issueCert(ca, {
    commonName: "admin",
    organizations: ["system:masters"],
    usage: "client",
  });
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
