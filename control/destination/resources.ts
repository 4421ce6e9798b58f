/**
 * YAML documents → validated resources. Three kinds are read:
 *
 * - `local.trellis.dev/v1` `Service`: a Service and its endpoints in one document, the local stand-in
 *   for a Kubernetes Service + EndpointSlices + Pods:
 *   ```yaml
 *   apiVersion: local.trellis.dev/v1
 *   kind: Service
 *   metadata: { name: web, namespace: shop }
 *   spec:
 *     clusterIP: 10.96.0.10              # optional; IP:port authorities resolve through it
 *     ports:                             # optional; a port not listed maps to itself
 *     - { name: http, port: 80, targetPort: 8080, protocol: http }   # protocol: http | opaque
 *                                        # (default: opaque on Linkerd's default opaque ports)
 *     endpoints:
 *     - address: 127.0.0.2               # IPv4 or IPv6
 *       pod: web-1                       # default: the address
 *       deployment: web                  # owner, for metrics (or owner: {kind, name})
 *       serviceAccount: web              # default: default
 *       ready: true                      # default true; false is not announced
 *       terminating: false               # default false; true is not announced (it is draining)
 *       meshed: true                     # default true: identity + H2 hint
 *       weight: 10000                    # default 10000
 *       inboundPort: 4143                # the proxy's inbound port, default 4143
 *       labels: { zone: a }              # extra metric labels
 *   ```
 * - `trellis.dev/v1alpha1` `ServiceProfile`, named by the Service's fully qualified name;
 *   `spec.opaquePorts: [5432]` marks ports whose traffic is TCP (opaque_protocol).
 * - `split.smi-spec.io/v1alpha1` (quantity weights, `900m`) and `v1alpha2` (integer weights)
 *   `TrafficSplit`.
 *
 * This file reads the documents and checks what every kind shares (apiVersion/kind, metadata);
 * validate.ts checks each kind's spec. Validation is strict (unknown fields are refused, as Linkerd's
 * profile validation does) and reports every problem of a resource at once, each naming the file and
 * the field.
 */
import { parseAllDocuments } from "yaml";
import type { DestinationErrorCode } from "./errors.js";
import type { Service, ServiceProfile, TrafficSplit } from "./model.js";
import { Checker, DNS_LABEL, isObj, validateProfile, validateService, validateSplit } from "./validate.js";

export type Resource =
  | { kind: "Service"; value: Service }
  | { kind: "ServiceProfile"; value: ServiceProfile }
  | { kind: "TrafficSplit"; value: TrafficSplit };

export type ResourceKind = Resource["kind"];

/** A refused document. `kind` and `key` are set when known, so the last good one can stay. */
export interface Problem {
  code: DestinationErrorCode;
  reason: string;
  kind?: ResourceKind;
  key?: string;
}

export interface Parsed {
  /** false when the file is not YAML at all: nothing in it can be trusted. */
  yamlOk: boolean;
  resources: Resource[];
  problems: Problem[];
}

/** Parses one file's text. Never throws. */
export function parseResources(text: string, file: string, clusterDomain: string): Parsed {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const yamlErrors = list.flatMap((d) => d.errors);
  if (yamlErrors.length > 0) {
    const e = yamlErrors[0];
    return {
      yamlOk: false,
      resources: [],
      problems: [{ code: "TRELLIS_E_DESTINATION_BAD_YAML", reason: `${file}: ${e?.message ?? "bad YAML"}` }],
    };
  }
  const out: Parsed = { yamlOk: true, resources: [], problems: [] };
  list.forEach((doc, i) => {
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const where = `${file} (document ${i + 1})`;
    const r = parseResource(value, where, clusterDomain);
    if ("problem" in r) out.problems.push(r.problem);
    else out.resources.push(r.resource);
  });
  return out;
}

/** Parses one document already decoded (a YAML document, or an object from the Kubernetes API). */
export function parseResource(
  value: unknown,
  where: string,
  clusterDomain: string,
): { resource: Resource } | { problem: Problem } {
  const bad = (reason: string): { problem: Problem } => ({
    problem: { code: "TRELLIS_E_DESTINATION_BAD_RESOURCE", reason: `${where}: ${reason}` },
  });
  if (!isObj(value)) return bad("expected a mapping with apiVersion, kind, metadata and spec");
  const { apiVersion, kind, metadata } = value;
  const known: Record<string, ResourceKind> = {
    "local.trellis.dev/v1/Service": "Service",
    "trellis.dev/v1alpha1/ServiceProfile": "ServiceProfile",
    "split.smi-spec.io/v1alpha1/TrafficSplit": "TrafficSplit",
    "split.smi-spec.io/v1alpha2/TrafficSplit": "TrafficSplit",
  };
  const k = known[`${apiVersion}/${kind}`];
  if (!k)
    return bad(
      `unknown apiVersion/kind ${JSON.stringify(apiVersion)}/${JSON.stringify(kind)}; expected local.trellis.dev/v1 Service, trellis.dev/v1alpha1 ServiceProfile or split.smi-spec.io/v1alpha1|v1alpha2 TrafficSplit`,
    );
  if (!isObj(metadata) || typeof metadata.name !== "string" || metadata.name === "")
    return bad(`${kind}: metadata.name: required`);
  const namespace = metadata.namespace ?? "default";
  if (typeof namespace !== "string" || !DNS_LABEL.test(namespace))
    return bad(`${kind} ${metadata.name}: metadata.namespace: expected a DNS-1123 label`);
  const name = metadata.name;
  const c = new Checker();
  const spec = c.object(value.spec, "spec", SPEC_FIELDS[k]);
  const problem = (code: DestinationErrorCode) => ({
    problem: {
      code,
      kind: k,
      key: `${namespace}/${name}`,
      reason: `${where}: ${k} ${namespace}/${name}: ${c.problems.join("; ")}`,
    },
  });
  if (k === "Service") {
    if (!DNS_LABEL.test(name)) c.fail("metadata.name", "expected a DNS-1123 label");
    const svc = spec && validateService(c, spec, namespace, name);
    return svc && c.problems.length === 0
      ? { resource: { kind: k, value: svc } }
      : problem("TRELLIS_E_DESTINATION_INVALID_SERVICE");
  }
  if (k === "ServiceProfile") {
    // Named by the target's FQDN; the target may be in another namespace (a client-side profile).
    const parts = name.split(".");
    if (
      parts.length < 4 ||
      `.${parts.slice(2).join(".")}` !== `.svc.${clusterDomain}` ||
      !DNS_LABEL.test(parts[0] ?? "") ||
      !DNS_LABEL.test(parts[1] ?? "")
    )
      c.fail("metadata.name", `expected the Service's fully qualified name <svc>.<ns>.svc.${clusterDomain}`);
    const sp = spec && validateProfile(c, spec, namespace, name);
    return sp && c.problems.length === 0
      ? { resource: { kind: k, value: sp } }
      : problem("TRELLIS_E_DESTINATION_INVALID_PROFILE");
  }
  const ts = spec && validateSplit(c, spec, namespace, name, apiVersion === "split.smi-spec.io/v1alpha1");
  return ts && c.problems.length === 0
    ? { resource: { kind: k, value: ts } }
    : problem("TRELLIS_E_DESTINATION_INVALID_SPLIT");
}

const SPEC_FIELDS: Record<ResourceKind, readonly string[]> = {
  Service: ["clusterIP", "ports", "endpoints"],
  ServiceProfile: ["routes", "retryBudget", "opaquePorts"],
  TrafficSplit: ["service", "backends"],
};
