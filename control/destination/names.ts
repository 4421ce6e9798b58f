/**
 * Authorities → what they name. `svc`, `svc.ns`, `svc.ns.svc` and `svc.ns.svc.<cluster-domain>` (a
 * trailing dot allowed), each with or without `:port` (default 80), name a Service; a short name is
 * looked up in the caller's namespace. `ip:port` and `[ip6]:port` are looked up by ClusterIP when the
 * snapshot is at hand (resolveTarget). Pure functions.
 */
import { isIP } from "node:net";
import { type Refusal, refuse } from "./errors.js";
import { type ClusterState, key, type Service } from "./model.js";

export const DEFAULT_PORT = 80;

export type Target =
  | { kind: "service"; namespace: string; name: string; port: number }
  | { kind: "ip"; ip: string; port: number };

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses an authority; a refusal names what is wrong with it. */
export function parseAuthority(
  authority: string,
  contextNamespace: string,
  clusterDomain: string,
):
  | Target
  | Refusal<
      | "TRELLIS_E_DESTINATION_BAD_AUTHORITY"
      | "TRELLIS_E_DESTINATION_NO_NAMESPACE"
      | "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER"
    > {
  const shown = JSON.stringify(authority.slice(0, 300));
  if (authority === "" || authority.length > 300)
    return refuse("TRELLIS_E_DESTINATION_BAD_AUTHORITY", `authority ${shown}: expected host[:port]`);
  let host = authority;
  let port = DEFAULT_PORT;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  if (v6) {
    host = v6[1] as string;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(authority);
    if (m) {
      host = m[1] as string;
      port = Number(m[2]);
    } else if (authority.includes(":") && isIP(authority) !== 6) {
      return refuse("TRELLIS_E_DESTINATION_BAD_AUTHORITY", `authority ${shown}: the port is not a number`);
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return refuse("TRELLIS_E_DESTINATION_BAD_AUTHORITY", `authority ${shown}: port out of 1..65535`);
  if (isIP(host) !== 0) return { kind: "ip", ip: host, port };
  const name = host.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  if (!labels.every((l) => LABEL.test(l)))
    return refuse("TRELLIS_E_DESTINATION_BAD_AUTHORITY", `authority ${shown}: not a DNS name`);
  const domain = clusterDomain.split(".");
  const [svc, ns, third] = labels as [string, string | undefined, string | undefined];
  const rest = labels.slice(3);
  const inCluster =
    labels.length <= 2 || (third === "svc" && (rest.length === 0 || rest.join(".") === domain.join(".")));
  if (!inCluster)
    return refuse("TRELLIS_E_DESTINATION_NOT_IN_CLUSTER", `${name} is not <svc>.<ns>.svc.${clusterDomain}`);
  const namespace = ns ?? contextNamespace;
  if (namespace === "")
    return refuse(
      "TRELLIS_E_DESTINATION_NO_NAMESPACE",
      `${name} is a short name and context_namespace is empty`,
    );
  if (!LABEL.test(namespace))
    return refuse(
      "TRELLIS_E_DESTINATION_BAD_AUTHORITY",
      `context_namespace ${JSON.stringify(namespace)} is not a namespace name`,
    );
  return { kind: "service", namespace, name: svc, port };
}

/** The fully qualified name of a Service. */
export function fqdn(namespace: string, name: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}

/** What a target resolves to in one snapshot. */
export interface Resolved {
  namespace: string;
  name: string;
  port: number;
  service?: Service;
  /** Set when the target is an endpoint's own IP: only that endpoint, on the port asked for. */
  endpointIP?: string;
}

/**
 * The Service a target names in this snapshot: for a name, `{namespace, name}` whether it exists or
 * not; for an IP, the Service whose ClusterIP it is, else the Service one of whose endpoints has it;
 * undefined when neither.
 */
export function resolveTarget(target: Target, state: ClusterState): Resolved | undefined {
  if (target.kind === "service") {
    const service = state.services.get(key(target.namespace, target.name));
    return { namespace: target.namespace, name: target.name, port: target.port, ...(service && { service }) };
  }
  const service = state.clusterIPs.get(target.ip);
  if (service) return { namespace: service.namespace, name: service.name, port: target.port, service };
  const owner = state.endpointIPs.get(target.ip);
  return (
    owner && {
      namespace: owner.namespace,
      name: owner.name,
      port: target.port,
      service: owner,
      endpointIP: target.ip,
    }
  );
}
