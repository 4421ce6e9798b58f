/**
 * The inbound security boundary: which app port a peer may reach. The port is named by the sender
 * (the `trellis-dst-port` header of a request, the header of an opaque stream), so every request and
 * stream is checked here before anything is forwarded: with TRELLIS_PROXY_INBOUND_PORTS set, only
 * those ports; without it, any port but the proxy's own, so a peer reaches neither the admin server
 * nor, through the proxy's own listeners, a loop.
 */
import { ProxyError } from "../errors.js";

export interface PortPolicy {
  /** App ports requests may name; empty: any port but the proxy's own. */
  ports: ReadonlySet<number>;
  /** The proxy's own ports, never forwarded to. */
  ownPorts: () => number[];
}

/** The app port a request names, if allowed. */
export function appPort(value: string | undefined, policy: PortPolicy): number | ProxyError {
  const port = Number(value);
  if (value === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    return new ProxyError("TRELLIS_E_PROXY_NO_DST_PORT", value === undefined ? undefined : `"${value}"`);
  }
  const allowed = policy.ports.size > 0 ? policy.ports.has(port) : !policy.ownPorts().includes(port);
  return allowed ? port : new ProxyError("TRELLIS_E_PROXY_PORT_FORBIDDEN", String(port));
}
