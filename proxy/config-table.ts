/**
 * The static destination table (TRELLIS_PROXY_DESTINATIONS): its entries' types and the parser that
 * checks them, reporting every problem into the list config.ts gathers. An endpoint's inbound port
 * defaults to the proxy's (4143), as config.ts's PEER_INBOUND_PORT.
 */
import { type HostPort, parseHostPort } from "../lib/address.js";
import { PROXY_ENV, PROXY_PORTS } from "../lib/proxy-env.js";
import { parseSpiffeId } from "../lib/spiffe.js";

/** One endpoint of a destination: a pod's address and, when meshed, its proxy's identity. */
export interface EndpointConfig {
  /** The app's address, `ip:port`: the port is the one the app listens on (carried to the peer). */
  address: string;
  /** The peer proxy's SPIFFE ID; absent for an unmeshed endpoint, reached in plaintext. */
  identity?: string;
  /** The peer proxy's inbound port, default 4143. */
  inboundPort: number;
  /** Labels for metrics, e.g. `{pod, deployment, namespace, serviceaccount}` (emitted as `dst_*`). */
  labels: Record<string, string>;
}

/** One entry of the static destination table (the destination service replaces it). */
export interface DestinationConfig {
  /** The authority the app uses, `name:port` (port default 80), e.g. `web.shop.svc.cluster.local:8080`. */
  authority: string;
  /** `http` (default) or `opaque`: opaque destinations are reached through a `bind` listener. */
  protocol: "http" | "opaque";
  /** For opaque destinations: the local `host:port` where the app connects. */
  bind?: HostPort;
  /** Metric labels of the service (emitted as `dst_*`), e.g. `{service, namespace}`. */
  labels: Record<string, string>;
  endpoints: EndpointConfig[];
}

/** `name` or `name:port` → `name:port`, lower case; port 80 when absent. */
export function normalizeAuthority(authority: string, defaultPort = 80): string {
  const a = authority.trim().toLowerCase();
  if (/:\d+$/.test(a)) return a;
  return `${a}:${defaultPort}`;
}

export function parseDestinations(raw: string | undefined, problems: string[]): DestinationConfig[] {
  if (raw === undefined || raw.trim() === "") return [];
  const name = PROXY_ENV.DESTINATIONS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    problems.push(`${name} is not JSON: ${(err as Error).message}`);
    return [];
  }
  if (!Array.isArray(parsed)) {
    problems.push(`${name} must be a JSON list of {authority, endpoints}`);
    return [];
  }
  const out: DestinationConfig[] = [];
  parsed.forEach((entry: unknown, i: number) => {
    const at = `${name}[${i}]`;
    if (typeof entry !== "object" || entry === null) {
      problems.push(`${at} is not an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!["authority", "protocol", "bind", "labels", "endpoints"].includes(key)) {
        problems.push(`${at}: unknown field "${key}" (known: authority, protocol, bind, labels, endpoints)`);
      }
    }
    if (typeof e.authority !== "string" || e.authority.trim() === "") {
      problems.push(`${at}.authority must be a non-empty string such as "web.shop.svc.cluster.local:8080"`);
      return;
    }
    const protocol = e.protocol ?? "http";
    if (protocol !== "http" && protocol !== "opaque") {
      problems.push(`${at}.protocol must be "http" or "opaque"`);
      return;
    }
    let bind: HostPort | undefined;
    if (e.bind !== undefined) {
      bind = typeof e.bind === "string" ? parseHostPort(e.bind) : undefined;
      if (!bind) problems.push(`${at}.bind must be host:port`);
    }
    if (protocol === "opaque" && !bind) problems.push(`${at}: an opaque destination needs "bind"`);
    const labels = parseLabels(e.labels, `${at}.labels`, problems);
    if (!Array.isArray(e.endpoints)) {
      problems.push(`${at}.endpoints must be a list`);
      return;
    }
    const endpoints: EndpointConfig[] = [];
    e.endpoints.forEach((ep: unknown, j: number) => {
      const eat = `${at}.endpoints[${j}]`;
      if (typeof ep !== "object" || ep === null) {
        problems.push(`${eat} is not an object`);
        return;
      }
      const p = ep as Record<string, unknown>;
      for (const key of Object.keys(p)) {
        if (!["address", "identity", "inboundPort", "labels"].includes(key)) {
          problems.push(`${eat}: unknown field "${key}" (known: address, identity, inboundPort, labels)`);
        }
      }
      if (typeof p.address !== "string" || !parseHostPort(p.address)) {
        problems.push(`${eat}.address must be ip:port`);
        return;
      }
      if (p.identity !== undefined && (typeof p.identity !== "string" || !parseSpiffeId(p.identity))) {
        problems.push(`${eat}.identity must be a SPIFFE ID`);
        return;
      }
      const inboundPort = p.inboundPort ?? PROXY_PORTS.INBOUND;
      if (
        typeof inboundPort !== "number" ||
        !Number.isInteger(inboundPort) ||
        inboundPort < 1 ||
        inboundPort > 65535
      ) {
        problems.push(`${eat}.inboundPort must be a port`);
        return;
      }
      endpoints.push({
        address: p.address,
        identity: p.identity as string | undefined,
        inboundPort,
        labels: parseLabels(p.labels, `${eat}.labels`, problems),
      });
    });
    out.push({ authority: normalizeAuthority(e.authority), protocol, bind, labels, endpoints });
  });
  return out;
}

function parseLabels(value: unknown, at: string, problems: string[]): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`${at} must be an object of strings`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string" || !/^[a-z_][a-z0-9_]*$/.test(k))
      problems.push(`${at}.${k} must be a string label`);
    else out[k] = v;
  }
  return out;
}
