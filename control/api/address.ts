/** Addresses the control plane's services listen on. */

/** A host and port to listen on; port 0 picks a free one. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port`, an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
