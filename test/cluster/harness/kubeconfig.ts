/** The admin kubeconfig of a test bed: the cluster CA, the API server URL, and the admin's certificate. */
import { writeFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import type { ClusterPki } from "./pki.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export function kubeconfigYaml(server: string, pki: ClusterPki): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: trellis-testbed
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.ca.certPem)}
users:
- name: admin
  user:
    client-certificate-data: ${b64(pki.admin.certPem)}
    client-key-data: ${b64(pki.admin.keyPem)}
contexts:
- name: trellis-testbed
  context: {cluster: trellis-testbed, user: admin}
current-context: trellis-testbed
`;
}

/** Writes the kubeconfig (mode 0600) and returns it loaded. */
export function writeKubeconfig(path: string, server: string, pki: ClusterPki): KubeConfig {
  const text = kubeconfigYaml(server, pki);
  writeFileSync(path, text, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}
