/** Host and port: the one parser and formatter every part uses for `host:port` strings. */

/** A host and port; as a listen address, port 0 picks a free one. */
export interface HostPort {
  host: string;
  port: number;
}

/** A host and port to listen on. */
export type ListenAddress = HostPort;

/**
 * Parses `host:port`, `[ipv6]:port` or `name:port`; undefined when the text is not that shape or the
 * port is above 65535.
 */
export function parseHostPort(value: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? "", port };
}

/** `host:port`, an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
