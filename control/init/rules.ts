/**
 * The pod's nat rules, built from the flags alone (pure): four chains of our own, the jumps into them
 * from PREROUTING and OUTPUT, and the iptables-restore input that installs them. Every rule is written
 * the way iptables-save prints it back (match order, quoted comments), so the rules in the kernel can be
 * compared with these lines as text. Every rule carries a `trellis-init/...` comment, so
 * `iptables-save` shows what put it there and why.
 */
import { formatPortRange, type PortRange } from "../common/ports.js";

/** The interception settings the rules are built from (the parsed flags). */
export interface RuleConfig {
  /** Where inbound TCP is redirected: the proxy's inbound listener (4143). */
  incomingProxyPort: number;
  /** Where outbound TCP is redirected: the proxy's outbound listener (4140). */
  outgoingProxyPort: number;
  /** The proxy's UID: its own connections are never redirected (2102). */
  proxyUid: number;
  /** Ports of the proxy itself, never intercepted inbound whatever the flags say (4143, 4191, 4190). */
  proxyPorts: readonly number[];
  /** Inbound destination ports left alone (`--inbound-ports-to-ignore`). */
  inboundPortsToIgnore: readonly PortRange[];
  /** Outbound destination ports left alone (`--outbound-ports-to-ignore`). */
  outboundPortsToIgnore: readonly PortRange[];
}

export type Family = "ipv4" | "ipv6";

export const CHAINS = {
  /** Inbound: jumped to from PREROUTING; returns what is left alone, sends the rest to the redirect. */
  PREROUTING: "TRELLIS_PREROUTING",
  INBOUND_REDIRECT: "TRELLIS_INBOUND_REDIRECT",
  /** Outbound: jumped to from OUTPUT; returns what is left alone, sends the rest to the redirect. */
  OUTPUT: "TRELLIS_OUTPUT",
  OUTBOUND_REDIRECT: "TRELLIS_OUTBOUND_REDIRECT",
} as const;

/** The built-in chains we hook, each with the one jump into our chain it gets. */
const HOOKS = [
  { builtin: "PREROUTING", chain: CHAINS.PREROUTING, comment: "trellis-init/install-prerouting" },
  { builtin: "OUTPUT", chain: CHAINS.OUTPUT, comment: "trellis-init/install-output" },
] as const;

/** The prefix of every comment we write: how a rule of ours is recognised. */
export const COMMENT_PREFIX = "trellis-init/";

/** iptables' multiport match takes at most 15 ports, a range counting as two. */
const MULTIPORT_LIMIT = 15;

/** The loopback addresses a connection is never redirected to, per family. */
const LOOPBACK: Record<Family, string> = { ipv4: "127.0.0.0/8", ipv6: "::1/128" };

function rule(chain: string, matches: string, comment: string, target: string): string {
  return `-A ${chain} ${matches ? `${matches} ` : ""}-m comment --comment "${COMMENT_PREFIX}${comment}" -j ${target}`;
}

/** Splits a port list into multiport-sized groups, each written as `--dports` wants it (`a,b:c`). */
export function multiportGroups(ranges: readonly PortRange[]): string[] {
  const groups: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const r of ranges) {
    const cost = r.low === r.high ? 1 : 2;
    if (used + cost > MULTIPORT_LIMIT) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(r.low === r.high ? String(r.low) : `${r.low}:${r.high}`);
    used += cost;
  }
  if (current.length > 0) groups.push(current);
  return groups.map((g) => g.join(","));
}

function skipPorts(chain: string, ranges: readonly PortRange[], comment: string): string[] {
  return multiportGroups(ranges).map((ports) =>
    rule(chain, `-p tcp -m multiport --dports ${ports}`, comment, "RETURN"),
  );
}

/** The proxy's own ports, then the ignored ones that are not already among them. */
function inboundSkips(config: RuleConfig): { proxy: PortRange[]; user: PortRange[] } {
  const proxy = [...new Set(config.proxyPorts)].map((p) => ({ low: p, high: p }));
  const user = config.inboundPortsToIgnore.filter(
    (r) => !(r.low === r.high && config.proxyPorts.includes(r.low)),
  );
  return { proxy, user };
}

/** The rules of our four chains, in order, as `-A` lines. */
export function chainRules(config: RuleConfig, family: Family): string[] {
  const { proxy, user } = inboundSkips(config);
  return [
    ...skipPorts(CHAINS.PREROUTING, proxy, "inbound-skip-proxy-ports"),
    ...skipPorts(CHAINS.PREROUTING, user, "inbound-skip-ports"),
    rule(CHAINS.PREROUTING, "-p tcp", "inbound-redirect", CHAINS.INBOUND_REDIRECT),
    rule(
      CHAINS.INBOUND_REDIRECT,
      "-p tcp",
      "inbound-to-proxy",
      `REDIRECT --to-ports ${config.incomingProxyPort}`,
    ),
    rule(CHAINS.OUTPUT, `-m owner --uid-owner ${config.proxyUid}`, "outbound-skip-proxy-uid", "RETURN"),
    // An app calling its own pod IP goes out through lo, as localhost does: left alone, as Linkerd does.
    rule(CHAINS.OUTPUT, "-o lo", "outbound-skip-loopback", "RETURN"),
    rule(CHAINS.OUTPUT, `-d ${LOOPBACK[family]}`, "outbound-skip-localhost", "RETURN"),
    ...skipPorts(CHAINS.OUTPUT, config.outboundPortsToIgnore, "outbound-skip-ports"),
    rule(CHAINS.OUTPUT, "-p tcp", "outbound-redirect", CHAINS.OUTBOUND_REDIRECT),
    rule(
      CHAINS.OUTBOUND_REDIRECT,
      "-p tcp",
      "outbound-to-proxy",
      `REDIRECT --to-ports ${config.outgoingProxyPort}`,
    ),
  ];
}

/** The jumps from PREROUTING and OUTPUT into our chains, as `-A` lines. */
export function jumpRules(): string[] {
  return HOOKS.map((h) => rule(h.builtin, "", h.comment.slice(COMMENT_PREFIX.length), h.chain));
}

/** Every rule of ours as iptables-save prints it: the chains' rules, then the jumps. */
export function desiredRules(config: RuleConfig, family: Family): string[] {
  return [...chainRules(config, family), ...jumpRules()];
}

/**
 * Our lines in an `iptables-save -t nat` output: the rules of our chains, and the jumps into them from
 * PREROUTING and OUTPUT by built-in chain. Jumps someone else added from chains of their own are theirs.
 */
export function ownRules(saveOutput: string): { chains: string[]; jumps: Map<string, string[]> } {
  const chains: string[] = [];
  const jumps = new Map<string, string[]>(HOOKS.map((h) => [h.builtin, []]));
  const ours = new Set<string>(Object.values(CHAINS));
  for (const line of saveOutput.split("\n")) {
    const m = /^-A (\S+) .*-j (\S+)/.exec(line);
    if (!m) continue;
    const [, chain = "", target = ""] = m;
    if (ours.has(chain)) chains.push(line);
    else if (ours.has(target)) jumps.get(chain)?.push(line);
  }
  return { chains, jumps };
}

/**
 * The iptables-restore input (for `--noflush`) that leaves exactly one copy of our rules whatever the
 * nat table held before: declaring our chains flushes them (or creates them), every existing jump into
 * them is deleted unless it is already exactly the one we want, and the missing jump is appended.
 * Without `current` (a dry run, or a table never touched) the jumps are simply appended.
 */
export function restoreInput(config: RuleConfig, family: Family, current = ""): string {
  const { jumps } = ownRules(current);
  const jumpLines: string[] = [];
  for (const hook of HOOKS) {
    const wanted = rule(hook.builtin, "", hook.comment.slice(COMMENT_PREFIX.length), hook.chain);
    const existing = jumps.get(hook.builtin) ?? [];
    if (existing.length === 1 && existing[0] === wanted) continue;
    for (const line of existing) jumpLines.push(line.replace(/^-A /, "-D "));
    jumpLines.push(wanted);
  }
  return [
    "*nat",
    ...Object.values(CHAINS).map((c) => `:${c} - [0:0]`),
    ...chainRules(config, family),
    ...jumpLines,
    "COMMIT",
    "",
  ].join("\n");
}

/** What the rules do, in one line, for the log. */
export function summary(config: RuleConfig): string {
  const { proxy, user } = inboundSkips(config);
  const list = (ranges: readonly PortRange[]) => ranges.map(formatPortRange).join(",");
  const inboundSkip = [list(proxy), user.length > 0 ? list(user) : ""].filter(Boolean).join(",");
  const outboundSkip = config.outboundPortsToIgnore.length > 0 ? list(config.outboundPortsToIgnore) : "";
  return (
    `inbound TCP to ${config.incomingProxyPort} except ports ${inboundSkip}; ` +
    `outbound TCP to ${config.outgoingProxyPort} except UID ${config.proxyUid}, loopback` +
    (outboundSkip ? ` and ports ${outboundSkip}` : "")
  );
}
