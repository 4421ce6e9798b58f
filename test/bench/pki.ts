/**
 * Which certificates the bench uses and where it writes them, all made by the one test PKI helper
 * (test/support/pki.ts): one trust anchor and issuer, used by the identity service to certify the
 * Trellis proxies and, directly, to sign the nginx sidecars' certificates, so both meshes trust the
 * same root. nginx checks a peer's name against DNS SANs only, so the nginx leaves carry the
 * Linkerd-style DNS form of the SPIFFE ID beside the SPIFFE ID itself.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatSpiffeId } from "../../lib/spiffe.js";
import { createTestPki, serverCertificate } from "../support/pki.js";
import { MESH } from "./params.js";

/** Paths of the PEM files of one run. */
export interface BenchPki {
  anchorPem: string;
  anchorFile: string;
  issuerCertFile: string;
  issuerKeyFile: string;
  nginxClient: { certFile: string; keyFile: string; identity: string };
  nginxServer: { certFile: string; keyFile: string; identity: string; dnsName: string };
}

export function identityOf(serviceAccount: string): string {
  return formatSpiffeId({ trustDomain: MESH.trustDomain, namespace: MESH.namespace, serviceAccount });
}

/** `<sa>.<ns>.serviceaccount.identity.<trust-domain>`: what nginx verifies. */
export function dnsNameOf(serviceAccount: string): string {
  return `${serviceAccount}.${MESH.namespace}.serviceaccount.identity.${MESH.trustDomain}`;
}

export async function writeBenchPki(dir: string): Promise<BenchPki> {
  const pki = await createTestPki("bench");
  const file = async (name: string, content: string, mode = 0o644) => {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    return path;
  };
  const client = identityOf(MESH.clientServiceAccount);
  const server = identityOf(MESH.serverServiceAccount);
  const clientCert = await serverCertificate(pki, client, [dnsNameOf(MESH.clientServiceAccount)]);
  const serverCert = await serverCertificate(pki, server, [dnsNameOf(MESH.serverServiceAccount)]);
  return {
    anchorPem: pki.anchor.certPem,
    anchorFile: await file("trust-anchor.pem", `${pki.anchor.certPem}\n`),
    issuerCertFile: await file("issuer.crt", `${pki.issuer.certPem}\n`),
    issuerKeyFile: await file("issuer.key", pki.issuer.keyPem, 0o600),
    nginxClient: {
      certFile: await file("nginx-client.crt", clientCert.chainPem),
      keyFile: await file("nginx-client.key", clientCert.keyPem, 0o600),
      identity: client,
    },
    nginxServer: {
      certFile: await file("nginx-server.crt", serverCert.chainPem),
      keyFile: await file("nginx-server.key", serverCert.keyPem, 0o600),
      identity: server,
      dnsName: dnsNameOf(MESH.serverServiceAccount),
    },
  };
}
