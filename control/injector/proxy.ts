/**
 * What `--manual` injection adds to a pod, built from the installed config and the workload's settings:
 * the `trellis-proxy` container, the `trellis-init` container, and their volumes. Every name here is
 * what uninject looks for to take them out again.
 */
import { INIT_CONTAINER, PROXY_CONTAINER, PROXY_ENV, PROXY_PORTS } from "../../lib/proxy-env.js";
import { identityTokenVolume, resourceRequirements } from "../common/mesh-config.js";
import type { InjectorConfig, WorkloadSettings } from "./config.js";
import type { Obj } from "./workloads.js";

export { INIT_CONTAINER, PROXY_CONTAINER };
export const TOKEN_VOLUME = "trellis-identity-token";
export const XTABLES_VOLUME = "trellis-init-xtables-lock";
/** The volumes injection adds, by name. */
export const INJECTED_VOLUMES = [TOKEN_VOLUME, XTABLES_VOLUME] as const;

export const TOKEN_DIR = "/var/run/trellis/identity/token";
// Not a proxy setting: lib/log.ts reads it in every Trellis process.
const LOG_LEVEL_ENV = "TRELLIS_LOG";
// The ServiceAccount, from the downward API, for the proxy's SPIFFE ID; not read by the proxy itself.
const SERVICE_ACCOUNT_ENV = "_trellis_pod_sa";

/** What the proxy container depends on besides the config. */
export interface ProxyInputs {
  settings: WorkloadSettings;
  /** The app's TCP container ports: the ports inbound requests may name. */
  inboundPorts: number[];
  /** The Deployment's name, for the `deployment` metric label, when the workload is one. */
  deployment?: string;
  /** Native sidecar: an init container with `restartPolicy: Always`. */
  native: boolean;
}

function fieldRef(name: string, fieldPath: string): Obj {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** The proxy's environment: kubelet expands `$(VAR)` from variables defined before it. */
function proxyEnv(config: InjectorConfig, inputs: ProxyInputs): Obj[] {
  const env: Obj[] = [
    fieldRef(PROXY_ENV.POD_NAMESPACE, "metadata.namespace"),
    fieldRef(PROXY_ENV.POD_NAME, "metadata.name"),
    fieldRef(SERVICE_ACCOUNT_ENV, "spec.serviceAccountName"),
  ];
  if (inputs.deployment !== undefined) env.push({ name: PROXY_ENV.DEPLOYMENT, value: inputs.deployment });
  env.push({ name: LOG_LEVEL_ENV, value: inputs.settings.logLevel ?? config.proxyLogLevel });
  if (inputs.inboundPorts.length > 0)
    env.push({ name: PROXY_ENV.INBOUND_PORTS, value: inputs.inboundPorts.join(",") });
  // The workload's opaque ports replace the proxy's default list (Linkerd's) for its outbound traffic.
  if (inputs.settings.opaquePorts.length > 0)
    env.push({ name: PROXY_ENV.OPAQUE_PORTS, value: inputs.settings.opaquePorts.join(",") });
  env.push(
    {
      name: PROXY_ENV.IDENTITY_NAME,
      value: `spiffe://${config.trustDomain}/ns/$(${PROXY_ENV.POD_NAMESPACE})/sa/$(${SERVICE_ACCOUNT_ENV})`,
    },
    { name: PROXY_ENV.IDENTITY_TRUST_ANCHORS, value: config.trustAnchorsPem },
    { name: PROXY_ENV.IDENTITY_TOKEN_FILE, value: `${TOKEN_DIR}/token` },
    { name: PROXY_ENV.IDENTITY_SVC_ADDR, value: config.identityServiceAddr },
    { name: PROXY_ENV.IDENTITY_SVC_NAME, value: config.identityServiceName },
    { name: PROXY_ENV.DESTINATION_SVC_ADDR, value: config.destinationServiceAddr },
    { name: PROXY_ENV.DESTINATION_SVC_NAME, value: config.destinationServiceName },
  );
  return env;
}

/** The sidecar, as UID 2102 (trellis-init lets that user's traffic out unintercepted). */
export function proxyContainer(config: InjectorConfig, inputs: ProxyInputs): Obj {
  const ready = () => ({ path: "/ready", port: PROXY_PORTS.ADMIN });
  return {
    name: PROXY_CONTAINER,
    image: config.proxyImage,
    imagePullPolicy: "IfNotPresent",
    ...(inputs.native ? { restartPolicy: "Always" } : {}),
    env: proxyEnv(config, inputs),
    ports: [
      { name: PROXY_CONTAINER, containerPort: PROXY_PORTS.INBOUND, protocol: "TCP" },
      { name: "trellis-admin", containerPort: PROXY_PORTS.ADMIN, protocol: "TCP" },
    ],
    resources: resourceRequirements({ ...config.proxyResources, ...inputs.settings.resources }),
    securityContext: {
      runAsUser: config.proxyUid,
      runAsGroup: config.proxyUid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    // Native: the app's containers start only once this passes, so the app never runs unmeshed.
    ...(inputs.native ? { startupProbe: { httpGet: ready(), periodSeconds: 1, failureThreshold: 120 } } : {}),
    readinessProbe: { httpGet: ready(), periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: {
      httpGet: { path: "/live", port: PROXY_PORTS.ADMIN },
      periodSeconds: 10,
      failureThreshold: 3,
    },
    volumeMounts: [{ name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true }],
  };
}

/**
 * `trellis-init`: applies the pod's nat rules (`trellis-controller init`) as root with NET_ADMIN and
 * NET_RAW, then exits. Its arguments are the proxy's ports and the ports left unintercepted.
 */
export function initContainer(config: InjectorConfig, skipInbound: string[], skipOutbound: string[]): Obj {
  const args = [
    `--incoming-proxy-port=${PROXY_PORTS.INBOUND}`,
    `--outgoing-proxy-port=${PROXY_PORTS.OUTBOUND}`,
    `--proxy-uid=${config.proxyUid}`,
    `--inbound-ports-to-ignore=${skipInbound.join(",")}`,
    ...(skipOutbound.length > 0 ? [`--outbound-ports-to-ignore=${skipOutbound.join(",")}`] : []),
  ];
  return {
    name: INIT_CONTAINER,
    image: config.proxyImage,
    imagePullPolicy: "IfNotPresent",
    command: ["trellis-controller", "init"],
    args,
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
    // iptables takes its lock in /run: writable there, read-only everywhere else.
    volumeMounts: [{ name: XTABLES_VOLUME, mountPath: "/run" }],
  };
}

export function tokenVolume(): Obj {
  return identityTokenVolume(TOKEN_VOLUME);
}

export function xtablesVolume(): Obj {
  return { name: XTABLES_VOLUME, emptyDir: {} };
}
