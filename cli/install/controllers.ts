/**
 * The control-plane services as workloads: for identity, destination and the injector a Deployment, a
 * Service for their serving port (gRPC, or the webhook's HTTPS) and, with --ha, a
 * PodDisruptionBudget. All run `trellis-controller` from the Trellis image with the flags of
 * control/{identity,destination,injector}/command.ts.
 *
 * No control-plane pod runs a trellis-proxy sidecar. Each service already speaks TLS itself with a
 * certificate for its own SPIFFE ID (identity signs its own; destination obtains one from identity with
 * its projected token and serves only clients holding a mesh certificate), so a sidecar would add a
 * hop and a second TLS layer without adding any guarantee. It would also make them depend on
 * themselves: identity's proxy needs identity for its certificate, destination's proxy needs
 * destination for discovery. Their only other peer is the API server, which is not meshed (the
 * injector's only client is the API server, too). The namespace and the pod templates opt out of
 * injection for the same reason, and the webhook never sees the control plane's namespace.
 */

import type {
  V1Container,
  V1Deployment,
  V1PodDisruptionBudget,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import {
  identityTokenVolume,
  TRUST_ROOTS_CONFIGMAP,
  TRUST_ROOTS_KEY,
} from "../../control/common/mesh-config.js";
import {
  ANNOTATION_INJECT,
  adminProbes,
  antiAffinity,
  containerSecurityContext,
  LABEL_COMPONENT,
  LABEL_VERSION,
  podSecurityContext,
  resourceRequirements,
  selectorLabels,
} from "./fragments.js";
import { CONTROLLER_UID } from "./image.js";
import {
  type Component,
  DESTINATION_ADMIN_PORT,
  DESTINATION_GRPC_PORT,
  IDENTITY_ADMIN_PORT,
  IDENTITY_GRPC_PORT,
  INJECTOR_ADMIN_PORT,
  INJECTOR_SERVICE_PORT,
  INJECTOR_WEBHOOK_PORT,
  type InstallValues,
  serviceAddress,
} from "./values.js";

export { TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY };
export const ISSUER_SECRET = "trellis-identity-issuer";
/** The injector's serving certificate, its key and CA: a `kubernetes.io/tls` Secret. */
export const INJECTOR_TLS_SECRET = "trellis-injector-tls";

const TRUST_ROOTS_DIR = "/var/run/trellis/identity/trust-roots";
const ISSUER_DIR = "/var/run/trellis/identity/issuer";
const TOKEN_DIR = "/var/run/trellis/identity/token";
const INJECTOR_TLS_DIR = "/var/run/trellis/injector/tls";

/** One control-plane service: what differs between them. */
interface ControllerSpec {
  component: Component;
  /** The port it serves on: its name, the container's port, the Service's port. */
  port: { name: string; container: number; service: number };
  adminPort: number;
  args: string[];
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
}

const trustRootsVolume: V1Volume = {
  name: "trust-roots",
  configMap: { name: TRUST_ROOTS_CONFIGMAP, items: [{ key: TRUST_ROOTS_KEY, path: TRUST_ROOTS_KEY }] },
};
const trustRootsMount: V1VolumeMount = { name: "trust-roots", mountPath: TRUST_ROOTS_DIR, readOnly: true };

function identitySpec(values: InstallValues): ControllerSpec {
  return {
    component: "identity",
    port: { name: "grpc", container: IDENTITY_GRPC_PORT, service: IDENTITY_GRPC_PORT },
    adminPort: IDENTITY_ADMIN_PORT,
    args: [
      `--listen=0.0.0.0:${IDENTITY_GRPC_PORT}`,
      `--admin-listen=0.0.0.0:${IDENTITY_ADMIN_PORT}`,
      `--trust-domain=${values.trustDomain}`,
      `--trust-anchors-file=${TRUST_ROOTS_DIR}/${TRUST_ROOTS_KEY}`,
      `--issuer-certificate-file=${ISSUER_DIR}/tls.crt`,
      `--issuer-key-file=${ISSUER_DIR}/tls.key`,
      `--issuance-lifetime=${values.identity.issuanceLifetime}`,
      "--token-verifier=kubernetes",
      `--identity-namespace=${values.namespace}`,
    ],
    volumes: [
      trustRootsVolume,
      // A kubernetes.io/tls Secret, so cert-manager can own it (--identity-external-issuer); the
      // service reloads the files when the Secret changes.
      { name: "issuer", secret: { secretName: ISSUER_SECRET } },
    ],
    mounts: [trustRootsMount, { name: "issuer", mountPath: ISSUER_DIR, readOnly: true }],
  };
}

function destinationSpec(values: InstallValues): ControllerSpec {
  return {
    component: "destination",
    port: { name: "grpc", container: DESTINATION_GRPC_PORT, service: DESTINATION_GRPC_PORT },
    adminPort: DESTINATION_ADMIN_PORT,
    args: [
      `--listen=0.0.0.0:${DESTINATION_GRPC_PORT}`,
      `--admin-listen=0.0.0.0:${DESTINATION_ADMIN_PORT}`,
      "--source=kubernetes",
      `--cluster-domain=${values.clusterDomain}`,
      `--trust-domain=${values.trustDomain}`,
      // Mutual TLS with a certificate from identity, proved by the projected token below.
      `--identity-svc-addr=${serviceAddress(values, "identity")}`,
      `--identity-token-file=${TOKEN_DIR}/token`,
      `--trust-anchors-file=${TRUST_ROOTS_DIR}/${TRUST_ROOTS_KEY}`,
      `--identity-namespace=${values.namespace}`,
    ],
    volumes: [trustRootsVolume, identityTokenVolume("identity-token")],
    mounts: [trustRootsMount, { name: "identity-token", mountPath: TOKEN_DIR, readOnly: true }],
  };
}

function injectorSpec(values: InstallValues): ControllerSpec {
  return {
    component: "injector",
    port: { name: "webhook", container: INJECTOR_WEBHOOK_PORT, service: INJECTOR_SERVICE_PORT },
    adminPort: INJECTOR_ADMIN_PORT,
    args: [
      `--listen=0.0.0.0:${INJECTOR_WEBHOOK_PORT}`,
      `--admin-listen=0.0.0.0:${INJECTOR_ADMIN_PORT}`,
      // Reloaded when the Secret changes (cert-manager renewing it, or a new install applied).
      `--tls-cert-file=${INJECTOR_TLS_DIR}/tls.crt`,
      `--tls-key-file=${INJECTOR_TLS_DIR}/tls.key`,
      // trellis-config and the trust anchors are read from the API and watched, not mounted, so a
      // change applies to the next pod without a restart.
      `--control-plane-namespace=${values.namespace}`,
    ],
    volumes: [{ name: "tls", secret: { secretName: INJECTOR_TLS_SECRET } }],
    mounts: [{ name: "tls", mountPath: INJECTOR_TLS_DIR, readOnly: true }],
  };
}

function container(values: InstallValues, spec: ControllerSpec): V1Container {
  return {
    name: spec.component,
    image: values.image,
    imagePullPolicy: "IfNotPresent",
    command: ["trellis-controller", spec.component],
    args: spec.args,
    ports: [
      { name: spec.port.name, containerPort: spec.port.container, protocol: "TCP" },
      { name: "admin-http", containerPort: spec.adminPort, protocol: "TCP" },
    ],
    ...adminProbes("admin-http"),
    resources: resourceRequirements(values.controllerResources[spec.component]),
    securityContext: containerSecurityContext(CONTROLLER_UID),
    volumeMounts: spec.mounts,
  };
}

function deployment(values: InstallValues, spec: ControllerSpec): V1Deployment {
  const name = `trellis-${spec.component}`;
  const selector = selectorLabels(values, spec.component);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: values.namespace, labels: { [LABEL_COMPONENT]: spec.component } },
    spec: {
      replicas: values.replicas,
      selector: { matchLabels: selector },
      ...(values.highAvailability
        ? { strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } } }
        : {}),
      template: {
        metadata: {
          labels: { ...selector, [LABEL_VERSION]: values.version },
          annotations: { [ANNOTATION_INJECT]: "disabled" },
        },
        spec: {
          serviceAccountName: name,
          // All talk to the API server: TokenReviews (identity), informers (destination, injector).
          automountServiceAccountToken: true,
          nodeSelector: { "kubernetes.io/os": "linux" },
          securityContext: podSecurityContext(CONTROLLER_UID),
          ...(values.highAvailability ? { affinity: antiAffinity(selector) } : {}),
          containers: [container(values, spec)],
          volumes: spec.volumes,
        },
      },
    },
  };
}

function service(values: InstallValues, spec: ControllerSpec): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: `trellis-${spec.component}`,
      namespace: values.namespace,
      labels: { [LABEL_COMPONENT]: spec.component },
    },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(values, spec.component),
      ports: [{ name: spec.port.name, port: spec.port.service, targetPort: spec.port.name, protocol: "TCP" }],
    },
  };
}

function disruptionBudget(values: InstallValues, spec: ControllerSpec): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: `trellis-${spec.component}`,
      namespace: values.namespace,
      labels: { [LABEL_COMPONENT]: spec.component },
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(values, spec.component) } },
  };
}

/** Each service's Deployment, Service and, with --ha, PodDisruptionBudget. */
export function controllerObjects(
  values: InstallValues,
): (V1Deployment | V1Service | V1PodDisruptionBudget)[] {
  return [identitySpec(values), destinationSpec(values), injectorSpec(values)].flatMap((spec) => [
    deployment(values, spec),
    service(values, spec),
    ...(values.highAvailability ? [disruptionBudget(values, spec)] : []),
  ]);
}
