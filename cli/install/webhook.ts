/**
 * The injector webhook's own objects: the `kubernetes.io/tls` Secret its pods serve with, and the
 * MutatingWebhookConfiguration that has the API server send it every Pod created outside kube-system,
 * the control plane's namespace and namespaces that opt out.
 *
 * Failure policy: `Fail`. With `Ignore` (Linkerd's default) a pod created while the injector is down
 * or slow starts without its proxy and stays unmeshed until someone restarts it: the complaint
 * Linkerd's users repeat most about its webhook, and for a mesh that promises mTLS everywhere a
 * silent hole. With `Fail` the API server refuses the pod instead; its controller (ReplicaSet, Job,
 * ...) retries with backoff and the pod is created, meshed, once an injector answers. The price: while
 * no injector replica answers, pods cannot be created in the namespaces the webhook covers, so the
 * cluster must never need the injector to bring the injector back:
 *
 * - the injector's own pods live in the control plane's namespace, which the namespaceSelector
 *   excludes by its `kubernetes.io/metadata.name` (a label the API server sets and no one can remove),
 *   so they are always created, webhook or not; kube-system (DNS, CNI, kube-proxy) likewise;
 * - a namespace labelled `trellis.dev/admission-webhooks=disabled` is excluded too: the way out for a
 *   workload that must start while the injector is down, or a cluster add-on living elsewhere;
 * - `--ha` runs three replicas on distinct nodes with a PodDisruptionBudget, so a drain or a rollout
 *   never leaves none, and the timeout (10 s) is short enough that the API server's own request does
 *   not time out first.
 *
 * `sideEffects: None`: the webhook changes nothing but the pod it is sent, and writes its Events only
 * for requests that are not dry runs, so `kubectl apply --dry-run=server` and `meshctl check` may call it.
 */
import type { V1MutatingWebhookConfiguration, V1Secret } from "@kubernetes/client-node";
import { INJECTOR_TLS_SECRET } from "./controllers.js";
import { LABEL_COMPONENT } from "./fragments.js";
import { INJECTOR_SERVICE_PORT, type InstallValues } from "./values.js";
import type { InjectorTls } from "./webhook-certificates.js";

/** The webhook's name inside its configuration (a qualified name, as the API requires). */
export const INJECTOR_WEBHOOK_NAME = "inject.trellis.dev";
export const INJECTOR_WEBHOOK_PATH = "/inject";
/** How long the API server waits for the injector before failing the pod's creation. */
export const INJECTOR_WEBHOOK_TIMEOUT_SECONDS = 10;
/** The label (value `disabled`) that keeps a namespace away from the webhook. */
export const ADMISSION_WEBHOOKS_LABEL = "trellis.dev/admission-webhooks";
/** The label the API server puts on every namespace, naming it. */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The cluster-scoped configuration's name: one per control plane, as the ClusterRoles are. */
export function injectorWebhookConfigurationName(namespace: string): string {
  return `trellis-${namespace}-injector`;
}

/** The name the API server calls and the serving certificate names. */
export function injectorServiceName(namespace: string): string {
  return `trellis-injector.${namespace}.svc`;
}

const base64 = (text: string) => Buffer.from(text).toString("base64");

/** The serving Secret and the webhook configuration. */
export function webhookObjects(
  values: InstallValues,
  tls: InjectorTls,
): (V1Secret | V1MutatingWebhookConfiguration)[] {
  const labels = { [LABEL_COMPONENT]: "injector" };
  const secret: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: INJECTOR_TLS_SECRET, namespace: values.namespace, labels },
    type: "kubernetes.io/tls",
    data: { "tls.crt": base64(tls.certPem), "tls.key": base64(tls.keyPem), "ca.crt": base64(tls.caPem) },
  };
  const configuration: V1MutatingWebhookConfiguration = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: injectorWebhookConfigurationName(values.namespace), labels },
    webhooks: [
      {
        name: INJECTOR_WEBHOOK_NAME,
        clientConfig: {
          service: {
            name: "trellis-injector",
            namespace: values.namespace,
            path: INJECTOR_WEBHOOK_PATH,
            port: INJECTOR_SERVICE_PORT,
          },
          caBundle: base64(tls.caPem),
        },
        rules: [
          {
            operations: ["CREATE"],
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector: {
          matchExpressions: [
            { key: NAMESPACE_NAME_LABEL, operator: "NotIn", values: ["kube-system", values.namespace] },
            { key: ADMISSION_WEBHOOKS_LABEL, operator: "NotIn", values: ["disabled"] },
          ],
        },
        // See the opening comment: refused rather than unmeshed, and what keeps that from deadlocking.
        failurePolicy: "Fail",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: INJECTOR_WEBHOOK_TIMEOUT_SECONDS,
      },
    ],
  };
  return [secret, configuration];
}
