/**
 * The control plane's ConfigMaps and Secrets: the trust anchors every proxy verifies peers against, the
 * issuer certificate and key identity signs with (a `kubernetes.io/tls` Secret, left out when an
 * external issuer such as cert-manager owns it), and `trellis-config`: what proxies, the injector and
 * `meshctl check` need to know of this install, one flat key per setting.
 */
import type { V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { CONFIG_CONFIGMAP, type MeshConfig } from "../../control/common/mesh-config.js";
import type { IdentityPki } from "./certificates.js";
import { ISSUER_SECRET, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY } from "./controllers.js";
import { PROXY_UID } from "./image.js";
import { type InstallValues, type Resources, serviceAddress, serviceIdentity } from "./values.js";

export { CONFIG_CONFIGMAP, type MeshConfig };

export function meshConfig(values: InstallValues): MeshConfig {
  const r: Resources = values.proxy.resources;
  const optional = (key: string, value: string | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    version: values.version,
    namespace: values.namespace,
    clusterDomain: values.clusterDomain,
    trustDomain: values.trustDomain,
    proxyImage: values.image,
    proxyUid: String(PROXY_UID),
    proxyLogLevel: values.proxy.logLevel,
    ...optional("proxyCpuRequest", r.cpuRequest),
    ...optional("proxyCpuLimit", r.cpuLimit),
    ...optional("proxyMemoryRequest", r.memoryRequest),
    ...optional("proxyMemoryLimit", r.memoryLimit),
    identityServiceAddr: serviceAddress(values, "identity"),
    identityServiceName: serviceIdentity(values, "identity"),
    destinationServiceAddr: serviceAddress(values, "destination"),
    destinationServiceName: serviceIdentity(values, "destination"),
    identityIssuanceLifetime: values.identity.issuanceLifetime,
    identityExternalIssuer: String(values.identity.externalIssuer),
    highAvailability: String(values.highAvailability),
  };
}

/** trellis-config, the trust anchors and (unless external) the issuer Secret. */
export function configObjects(values: InstallValues, pki: IdentityPki): (V1ConfigMap | V1Secret)[] {
  const metadata = (name: string) => ({ name, namespace: values.namespace });
  const objects: (V1ConfigMap | V1Secret)[] = [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: metadata(CONFIG_CONFIGMAP),
      data: { ...meshConfig(values) },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: metadata(TRUST_ROOTS_CONFIGMAP),
      data: { [TRUST_ROOTS_KEY]: pki.trustAnchorsPem },
    },
  ];
  if (pki.issuer && !values.identity.externalIssuer)
    objects.push({
      apiVersion: "v1",
      kind: "Secret",
      metadata: metadata(ISSUER_SECRET),
      type: "kubernetes.io/tls",
      data: {
        "tls.crt": Buffer.from(pki.issuer.certPem).toString("base64"),
        "tls.key": Buffer.from(pki.issuer.keyPem).toString("base64"),
      },
    });
  return objects;
}
