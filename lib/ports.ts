/**
 * Port lists as annotations and variables spell them (`trellis.dev/opaque-ports`,
 * TRELLIS_PROXY_OPAQUE_PORTS): comma-separated ports and inclusive ranges, `25,3306,8000-8100`.
 */

/** A parsed list: membership by port. */
export interface PortSet {
  has(port: number): boolean;
  /** The list as it would be written back, ranges kept. */
  readonly text: string;
}

/** The list, or the items that are neither a port (1-65535) nor a range `low-high` with low ≤ high. */
export function parsePortList(text: string): { ports: PortSet } | { bad: string[] } {
  const ranges: [number, number][] = [];
  const bad: string[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    const low = m ? Number(m[1]) : 0;
    const high = m?.[2] !== undefined ? Number(m[2]) : low;
    if (!m || low < 1 || high > 65535 || low > high) bad.push(item);
    else ranges.push([low, high]);
  }
  if (bad.length > 0) return { bad };
  return { ports: portSet(ranges) };
}

/** The set of the given ports. */
export function portsOf(ports: readonly number[]): PortSet {
  return portSet(ports.map((p) => [p, p]));
}

function portSet(ranges: [number, number][]): PortSet {
  return {
    has: (port) => ranges.some(([low, high]) => port >= low && port <= high),
    text: ranges.map(([low, high]) => (low === high ? String(low) : `${low}-${high}`)).join(","),
  };
}
