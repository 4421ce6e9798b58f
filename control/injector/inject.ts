/**
 * Injection as a pure function: an object (or a List of them) and the installed config in, a new
 * object and one report per object out. The input is never changed, so the webhook can diff the two
 * into its JSONPatch. By default a pod template gets `trellis.dev/inject: enabled` for the webhook;
 * `manual` renders the proxy into it the way the webhook will.
 */

import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { ANNOTATIONS, type InjectorConfig, workloadSettings } from "./config.js";
import { probePorts } from "./probes.js";
import { initContainer, proxyContainer, tokenVolume, xtablesVolume } from "./proxy.js";
import type { ObjectReport } from "./report.js";
import { uninjectTemplate } from "./uninject.js";
import {
  annotationsOf,
  child,
  describe,
  isObj,
  list,
  type Obj,
  POD_TEMPLATE_KINDS,
  type PodTemplate,
  podTemplate,
  protectedNamespace,
  refusal,
} from "./workloads.js";

/** How to inject. */
export interface InjectOptions {
  /** Render the proxy (needs `config`) instead of annotating for the webhook. */
  manual: boolean;
  /** The proxy as a regular container, for clusters without native sidecars (before 1.29). */
  legacySidecar?: boolean;
  /** No trellis-init: something else (a CNI plugin) sets up the pod's interception. */
  skipInit?: boolean;
  /** Mesh kube-system and the control plane's namespace too. */
  force?: boolean;
  /** The control plane's namespace, protected unless `force`. */
  controlPlaneNamespace: string;
  /** The namespace of objects that do not name one (the webhook knows the request's). */
  namespace?: string;
  /**
   * Ports whose traffic is not HTTP, already checked: written as `trellis.dev/opaque-ports` on pod
   * templates, Namespaces and Services (the one thing a Service is annotated with). Uninject keeps
   * it: it describes the app, not the injection.
   */
  opaquePorts?: string[];
  /**
   * The Deployment a Pod belongs to, for its proxy's `deployment` metric label: the webhook knows it
   * from the Pod's ReplicaSet. A Deployment's own template needs none.
   */
  deployment?: string;
}

export interface InjectResult {
  object: unknown;
  reports: ObjectReport[];
}

/** Injects a copy of `input`; a List's items one by one. Throws only on a bug (manual without config). */
export function inject(
  input: unknown,
  config: InjectorConfig | undefined,
  opts: InjectOptions,
): InjectResult {
  if (opts.manual && !config) throw new Error("manual injection needs the installed config");
  if (!isObj(input))
    return { object: input, reports: [skipped("document", "", "document", 'document missing "kind" field')] };
  const obj = structuredClone(input);
  if (obj.kind === "List" && Array.isArray(obj.items)) {
    const reports: ObjectReport[] = [];
    obj.items = obj.items.map((item: unknown) => {
      const r = inject(item, config, opts);
      reports.push(...r.reports);
      return r.object;
    });
    return { object: obj, reports };
  }
  return { object: obj, reports: [injectOne(obj, config, opts)] };
}

function skipped(object: string, name: string, kind: string, reason: string): ObjectReport {
  return { object, kind, name, status: "skipped", reason, warnings: [] };
}

/** Changes `obj` in place and reports what was done. */
function injectOne(obj: Obj, config: InjectorConfig | undefined, opts: InjectOptions): ObjectReport {
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  const metadata = child(obj, "metadata") ?? {};
  const name = String(metadata.name ?? "");
  const object = describe(obj);
  if (!kind) return skipped(object, name, "document", 'document missing "kind" field');
  const report: ObjectReport = { object, kind, name, status: "injected", warnings: [] };
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : opts.namespace;

  if (kind === "Namespace") {
    const why = opts.force ? undefined : protectedNamespace(name, opts.controlPlaneNamespace);
    if (why) return { ...report, status: "refused", reason: why };
    const annotations = child(child(obj, "metadata", true) as Obj, "annotations", true) as Obj;
    annotations[ANNOTATIONS.INJECT] = "enabled";
    if (opts.opaquePorts?.length) annotations[ANNOTATIONS.OPAQUE_PORTS] = opts.opaquePorts.join(",");
    return { ...report, status: "annotated" };
  }
  if (kind === "Service") {
    if (!opts.opaquePorts?.length)
      return { ...report, status: "skipped", reason: "kind Service has no pod to mesh" };
    const annotations = child(child(obj, "metadata", true) as Obj, "annotations", true) as Obj;
    annotations[ANNOTATIONS.OPAQUE_PORTS] = opts.opaquePorts.join(",");
    return { ...report, status: "annotated" };
  }
  if (!(POD_TEMPLATE_KINDS as readonly string[]).includes(kind))
    return { ...report, status: "skipped", reason: `kind ${kind} has no pod to mesh` };
  const t = podTemplate(obj);
  if (!t) return { ...report, status: "skipped", reason: "it has no pod template spec" };
  uninjectTemplate(t, { keepInjectAnnotation: true });

  const refused =
    refusal(t.spec) ?? (opts.force ? undefined : protectedNamespace(namespace, opts.controlPlaneNamespace));
  if (refused) return { ...report, status: "refused", reason: refused };
  if (annotationsOf(t, false)?.[ANNOTATIONS.INJECT] === "disabled") {
    report.warnings.push(`"${ANNOTATIONS.INJECT}: disabled" annotation set on the pod template`);
    return { ...report, status: "skipped", reason: `annotated "${ANNOTATIONS.INJECT}: disabled"` };
  }
  if (opts.opaquePorts?.length)
    (annotationsOf(t, true) as Obj)[ANNOTATIONS.OPAQUE_PORTS] = opts.opaquePorts.join(",");
  const parsed = workloadSettings(annotationsOf(t, false) ?? {});
  if (parsed.errors.length > 0) return { ...report, status: "refused", reason: parsed.errors.join("; ") };
  report.warnings.push(...parsed.warnings, ...podWarnings(t.spec));

  if (!opts.manual || !config) {
    (annotationsOf(t, true) as Obj)[ANNOTATIONS.INJECT] = "enabled";
    return report;
  }
  renderProxy(t, config, opts, parsed.settings, kind === "Deployment" ? name : opts.deployment, report);
  return report;
}

/** What a pod's own fields mean for its proxy. */
function podWarnings(spec: Obj): string[] {
  const warnings: string[] = [];
  const udp = list(spec, "containers")
    .flatMap((c) => list(c, "ports"))
    .filter((p) => p.protocol === "UDP")
    .map((p) => p.containerPort);
  if (udp.length > 0)
    warnings.push(
      `uses "protocol: UDP" (port ${udp.join(", ")}): the proxy carries TCP only, so UDP bypasses it, without mTLS or metrics`,
    );
  if (spec.automountServiceAccountToken === false)
    warnings.push(
      "sets automountServiceAccountToken: false: the proxy still proves its identity with its own projected token (audience identity.trellis.dev); the app's containers keep getting no API token",
    );
  return warnings;
}

function renderProxy(
  t: PodTemplate,
  config: InjectorConfig,
  opts: InjectOptions,
  settings: ReturnType<typeof workloadSettings>["settings"],
  deployment: string | undefined,
  report: ObjectReport,
): void {
  const probes = probePorts(t.spec);
  for (const p of probes.filter((p) => p.servesApp))
    report.warnings.push(
      `the ${p.probe} of container "${p.container}" targets port ${p.port}, the app's port: it stays unintercepted so the kubelet's plaintext probes reach it, which lets unmeshed clients reach it in plaintext too; give probes a port of their own to keep ${p.port} mTLS-only`,
    );
  const skipInbound = unique([
    String(PROXY_PORTS.RESERVED),
    String(PROXY_PORTS.ADMIN),
    ...settings.skipInboundPorts,
    ...probes.map((p) => String(p.port)),
  ]);
  const inboundPorts = [
    ...new Set(
      list(t.spec, "containers")
        .flatMap((c) => list(c, "ports"))
        .filter((p) => (p.protocol ?? "TCP") === "TCP" && typeof p.containerPort === "number")
        .map((p) => p.containerPort as number),
    ),
  ].sort((a, b) => a - b);
  const native = !opts.legacySidecar;
  const proxy = proxyContainer(config, {
    settings,
    inboundPorts,
    ...(deployment !== undefined ? { deployment } : {}),
    native,
  });
  const inits: Obj[] = [];
  if (!opts.skipInit) inits.push(initContainer(config, skipInbound, settings.skipOutboundPorts));
  // Native: the proxy runs before the user's init containers, so they have the network too.
  if (native) inits.push(proxy);
  if (inits.length > 0) t.spec.initContainers = [...inits, ...list(t.spec, "initContainers")];
  if (!native) t.spec.containers = [proxy, ...list(t.spec, "containers")];
  t.spec.volumes = [...list(t.spec, "volumes"), tokenVolume(), ...(opts.skipInit ? [] : [xtablesVolume()])];
  (annotationsOf(t, true) as Obj)[ANNOTATIONS.PROXY_VERSION] = config.version;
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
