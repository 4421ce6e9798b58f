/**
 * The injector: how a workload joins the mesh. Injection is one pure function (an object and the
 * installed config in, a new object and a report out, as linkerd2's `pkg/inject`) used unchanged by
 * `meshctl inject` and by the admission webhook, which diffs the input and output pod into its
 * JSONPatch. config.ts reads the installed config and the workloads' annotations, workloads.ts knows
 * where each kind keeps its pod and which pods are refused, proxy.ts renders the proxy and trellis-init
 * containers, probes.ts keeps the kubelet's probes working under mTLS, inject.ts and uninject.ts put
 * them in and take them out, report.ts says what happened, and patch.ts turns the old and the new
 * object into the webhook's JSONPatch.
 *
 * The webhook (`trellis-controller injector`, command.ts) adds: admission.ts, its pure decision
 * (AdmissionReview in, verdict and patch out); events.ts, the Event about each pod; server.ts, HTTPS
 * and the admin server, with tls.ts (the watched serving certificate), recorder.ts (Events written
 * beside the admission path) and metrics.ts; and sources.ts, what it asks of the cluster, implemented
 * by kubernetes.ts with informers. Only the pure parts are exported here: `meshctl` imports this file.
 */

export {
  ADMISSION_REVIEW_API_VERSION,
  type Admission,
  type AdmissionRequest,
  admit,
  deploymentOf,
  type NamespaceLookup,
  parseReview,
  reviewResponse,
  type Verdict,
} from "./admission.js";
export {
  ANNOTATION_PREFIX,
  ANNOTATIONS,
  type InjectorConfig,
  type InstalledConfig,
  injectorConfig,
  isPortOrRange,
  PROXY_LOG_LEVELS,
  type ProxyResources,
  type WorkloadSettings,
  workloadSettings,
} from "./config.js";
export { admissionEvent, EVENT_COMPONENT, type EventTarget, eventTarget } from "./events.js";
export { type InjectOptions, type InjectResult, inject } from "./inject.js";
export { jsonPatch, type PatchOperation } from "./patch.js";
export { type ProbePort, probePorts } from "./probes.js";
export { INIT_CONTAINER, PROXY_CONTAINER, TOKEN_DIR, TOKEN_VOLUME, XTABLES_VOLUME } from "./proxy.js";
export { type ObjectReport, refusals, renderReport, type Status } from "./report.js";
export { uninject, uninjectTemplate } from "./uninject.js";
export { POD_TEMPLATE_KINDS, PROTECTED_NAMESPACES } from "./workloads.js";
