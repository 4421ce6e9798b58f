/**
 * trellis-init's flags: the parsers (each throws commander's InvalidArgumentError, which the entry point
 * turns into a usage error, exit 2, naming the flag and the value) and the checks across flags.
 */
import { InvalidArgumentError } from "commander";
import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { type PortRange, parsePort, parsePortList } from "../common/ports.js";
import type { IptablesMode } from "./backend.js";
import type { RuleConfig } from "./rules.js";

export type Ipv6Mode = "auto" | "on" | "off";

/** The parsed flags of `trellis-controller init`. */
export interface InitFlags {
  incomingProxyPort: number;
  outgoingProxyPort: number;
  proxyUid: number;
  inboundPortsToIgnore: PortRange[];
  outboundPortsToIgnore: PortRange[];
  iptablesMode: IptablesMode;
  ipv6: Ipv6Mode;
  dryRun: boolean;
}

export function portFlag(value: string): number {
  const port = parsePort(value.trim());
  if (port === undefined) throw new InvalidArgumentError(`"${value}" is not a port (1-65535)`);
  return port;
}

/** The largest UID Linux gives a process: (uid_t)-1 means "no change". */
const MAX_UID = 4294967294;

export function uidFlag(value: string): number {
  const v = value.trim();
  if (!/^\d{1,10}$/.test(v) || Number(v) > MAX_UID)
    throw new InvalidArgumentError(`"${value}" is not a user id (1-${MAX_UID})`);
  if (Number(v) === 0)
    throw new InvalidArgumentError(
      "0 is root: every process running as root would escape interception; give the proxy's own UID",
    );
  return Number(v);
}

export function portListFlag(value: string): PortRange[] {
  const parsed = parsePortList(value);
  if ("error" in parsed) throw new InvalidArgumentError(parsed.error);
  return parsed.ranges;
}

/** The ports of the proxy itself, never intercepted inbound: its inbound port, admin, and reserved. */
export function proxyOwnPorts(incomingProxyPort: number): number[] {
  return [incomingProxyPort, PROXY_PORTS.ADMIN, PROXY_PORTS.RESERVED];
}

/** What is wrong across flags, in one line; undefined when nothing is. */
export function crossCheck(flags: InitFlags): string | undefined {
  if (flags.incomingProxyPort === flags.outgoingProxyPort)
    return `--incoming-proxy-port and --outgoing-proxy-port are both ${flags.incomingProxyPort}: the proxy's inbound and outbound listeners are two ports`;
  return undefined;
}

export function ruleConfig(flags: InitFlags): RuleConfig {
  return {
    incomingProxyPort: flags.incomingProxyPort,
    outgoingProxyPort: flags.outgoingProxyPort,
    proxyUid: flags.proxyUid,
    proxyPorts: proxyOwnPorts(flags.incomingProxyPort),
    inboundPortsToIgnore: flags.inboundPortsToIgnore,
    outboundPortsToIgnore: flags.outboundPortsToIgnore,
  };
}
