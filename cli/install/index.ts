/**
 * `meshctl install` without the command line: values resolved from flags (values.ts), the identity PKI
 * generated or validated from files (certificates.ts), and the webhook's TLS generated or validated
 * from files (webhook-certificates.ts), the objects built by typed functions (controllers.ts,
 * config.ts, webhook.ts, fragments.ts) or read from manifests/ (manifests.ts), and put in apply order
 * and printed (render.ts). With an external issuer, external-issuer.ts reads its Secret from the
 * cluster, the one time install reads a cluster. `image.ts` is the one place that names the Trellis
 * image. Pure apart from reading files and generating keys: the same flags and certificate files give
 * the same bytes.
 */
export { type IdentityPki, type IssuerSecret, identityPki } from "./certificates.js";
export { CONFIG_CONFIGMAP, type MeshConfig, meshConfig } from "./config.js";
export { INJECTOR_TLS_SECRET, ISSUER_SECRET, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY } from "./controllers.js";
export { readIssuerSecret } from "./external-issuer.js";
export { LABEL_COMPONENT, LABEL_CONTROL_PLANE_NS, LABEL_VERSION } from "./fragments.js";
export * from "./image.js";
export { crdObjects, type K8sObject, manifestsDir } from "./manifests.js";
export {
  crdInstallObjects,
  installObjects,
  KIND_ORDER,
  type OutputFormat,
  serialize,
  uninstallObjects,
} from "./render.js";
export * from "./values.js";
export {
  ADMISSION_WEBHOOKS_LABEL,
  INJECTOR_WEBHOOK_NAME,
  INJECTOR_WEBHOOK_PATH,
  INJECTOR_WEBHOOK_TIMEOUT_SECONDS,
  injectorServiceName,
  injectorWebhookConfigurationName,
} from "./webhook.js";
export { generateInjectorTls, type InjectorTls, injectorTls } from "./webhook-certificates.js";
