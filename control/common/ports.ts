/**
 * The grammar of a port list as the `trellis.dev/skip-inbound-ports`-style annotations and trellis-init's
 * `--*-ports-to-ignore` flags write it: comma-separated TCP ports (1-65535) and inclusive ranges such as
 * `8000-8010`. One parser, so what the injector accepts in an annotation is what trellis-init accepts on
 * its command line.
 */

/** An inclusive range of TCP ports; a single port has `low === high`. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/** What a bad entry is told, after the entry itself. */
export const PORT_OR_RANGE_HINT = "is not a port (1-65535) or a range such as 8000-8010";

/** A decimal port 1-65535, no sign, no leading `+`, at most 5 digits; undefined otherwise. */
export function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `8080` or `8000-8100` (low ≤ high); undefined otherwise. */
export function parsePortOrRange(s: string): PortRange | undefined {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (m) {
    const low = parsePort(m[1] as string);
    const high = parsePort(m[2] as string);
    if (low === undefined || high === undefined || low > high) return undefined;
    return { low, high };
  }
  const port = parsePort(s);
  return port === undefined ? undefined : { low: port, high: port };
}

/**
 * A comma-separated list of ports and ranges; the empty string is the empty list. Entries are trimmed;
 * an empty entry (`80,,90`, a trailing comma) is an error like any other bad entry. Exact duplicates
 * are dropped, the order is kept.
 */
export function parsePortList(value: string): { ranges: PortRange[] } | { error: string } {
  if (value.trim() === "") return { ranges: [] };
  const ranges: PortRange[] = [];
  for (const raw of value.split(",")) {
    const item = raw.trim();
    const range = parsePortOrRange(item);
    if (!range) return { error: `${item === "" ? "an empty entry" : `"${item}"`} ${PORT_OR_RANGE_HINT}` };
    if (!ranges.some((r) => r.low === range.low && r.high === range.high)) ranges.push(range);
  }
  return { ranges };
}

/** `8080` or `8000-8010`, as the list grammar writes it. */
export function formatPortRange(range: PortRange): string {
  return range.low === range.high ? String(range.low) : `${range.low}-${range.high}`;
}
