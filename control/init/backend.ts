/**
 * Which iptables trellis-init drives. iptables 1.8 comes in two backends that write to different kernel
 * subsystems, nft (nf_tables) and legacy (x_tables); rules must go where the rest of the namespace's
 * rules are, or their order against them is undefined. Like Kubernetes' iptables-wrappers and Linkerd's
 * proxy-init, the choice is made by counting the rules each backend's `*-save` shows (IPv4 and IPv6):
 * the one with more rules is the one in use. The counting is pure (chooseMode); running the tools is
 * behind `Run`, so the choice is tested without root.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

export type Backend = "nft" | "legacy";
export type IptablesMode = Backend | "auto";

/** The outcome of one tool run. */
export interface RunResult {
  /** Exit status; null when it could not start or was killed. */
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool with optional stdin; never throws. */
export type Run = (command: string, args: readonly string[], input?: string) => RunResult;

/** How long one iptables tool may run (it waits up to 10 s for the xtables lock itself). */
const TOOL_TIMEOUT_MS = 30_000;

export const runTool: Run = (command, args, input) => {
  const r = spawnSync(command, args, {
    input: input ?? "",
    encoding: "utf8",
    timeout: TOOL_TIMEOUT_MS,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr = r.error ? `${r.stderr ?? ""}${r.error.message}` : (r.stderr ?? "");
  return { status: r.status, stdout: r.stdout ?? "", stderr };
};

/** The tools of one backend for one family, as absolute paths; absent when not installed. */
export interface FamilyTools {
  save: string;
  restore: string;
}

export interface BackendTools {
  backend: Backend;
  ipv4?: FamilyTools;
  ipv6?: FamilyTools;
}

/** Where sbin tools live when PATH does not say (a container's PATH may lack sbin). */
const EXTRA_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/** The absolute path of an executable on PATH (or in the sbin directories); undefined when absent. */
export function findExecutable(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...EXTRA_DIRS]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

/** `iptables-nft-save`, `ip6tables-legacy-restore`, ... */
export function toolName(backend: Backend, family: "ipv4" | "ipv6", tool: "save" | "restore"): string {
  return `${family === "ipv4" ? "iptables" : "ip6tables"}-${backend}-${tool}`;
}

export function findTools(backend: Backend, find = findExecutable): BackendTools {
  const family = (f: "ipv4" | "ipv6"): FamilyTools | undefined => {
    const save = find(toolName(backend, f, "save"));
    const restore = find(toolName(backend, f, "restore"));
    return save && restore ? { save, restore } : undefined;
  };
  const ipv4 = family("ipv4");
  const ipv6 = family("ipv6");
  return { backend, ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
}

/** The number of rules in an iptables-save output: its `-A` lines. */
export function countRules(saveOutput: string): number {
  return saveOutput.split("\n").filter((l) => l.startsWith("-")).length;
}

/** What one backend's save tools showed: the rule count, or why it could not be read. */
export type Census = { rules: number } | { unusable: string };

export interface ModeChoice {
  backend: Backend;
  /** Why, in words, for the log. */
  reason: string;
}

const show = (backend: Backend, c: Census) =>
  "rules" in c
    ? `${backend} ${c.rules} rule${c.rules === 1 ? "" : "s"}`
    : `${backend} unusable (${c.unusable})`;

/**
 * The backend to use from what each one's save tools showed. More rules wins (legacy only when it has
 * strictly more, as iptables-wrappers decides). When both show none, as in a new pod's network
 * namespace, nft: the node's own rules live in the host's namespace, out of sight here, so there is no
 * order to keep, and nft is the backend of the iptables current distributions ship and the only one a
 * kernel without the legacy x_tables modules supports. Undefined when neither backend can be used.
 */
export function chooseMode(nft: Census, legacy: Census): ModeChoice | undefined {
  const counts = `${show("nft", nft)}, ${show("legacy", legacy)}`;
  if (!("rules" in nft) && !("rules" in legacy)) return undefined;
  if (!("rules" in legacy)) return { backend: "nft", reason: `only nft is usable: ${counts}` };
  if (!("rules" in nft)) return { backend: "legacy", reason: `only legacy is usable: ${counts}` };
  if (legacy.rules > nft.rules)
    return { backend: "legacy", reason: `legacy holds this namespace's rules: ${counts}` };
  if (nft.rules > legacy.rules)
    return { backend: "nft", reason: `nft holds this namespace's rules: ${counts}` };
  if (nft.rules > 0) return { backend: "nft", reason: `both hold rules, nft on a tie: ${counts}` };
  return {
    backend: "nft",
    reason:
      `no rules in either backend (${counts}), as in a new pod; nft is the default, the backend of ` +
      "current distributions' iptables, and --iptables-mode=legacy overrides it",
  };
}

/** Counts one backend's rules over IPv4 and IPv6; unusable when its IPv4 tools are absent or fail. */
export function census(tools: BackendTools, run: Run): Census {
  if (!tools.ipv4)
    return { unusable: `${toolName(tools.backend, "ipv4", "save")} or -restore is not installed` };
  const v4 = run(tools.ipv4.save, []);
  if (v4.status !== 0) return { unusable: `${tools.ipv4.save} failed: ${firstLine(v4.stderr)}` };
  let rules = countRules(v4.stdout);
  if (tools.ipv6) {
    const v6 = run(tools.ipv6.save, []);
    if (v6.status === 0) rules += countRules(v6.stdout);
  }
  return { rules };
}

export function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/**
 * Whether this network namespace has IPv6 at all, and a global IPv6 address (one other pods could
 * reach it on). Read from /proc/net/if_inet6, which is per network namespace; absent when the kernel
 * runs without IPv6.
 */
export function ipv6State(read: () => string | undefined = readIfInet6): {
  enabled: boolean;
  globalAddress: boolean;
} {
  const text = read();
  if (text === undefined) return { enabled: false, globalAddress: false };
  // Columns: address, interface index, prefix length, scope, flags, name. Scope 00 is global.
  const globalAddress = text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .some((cols) => cols.length >= 6 && cols[3] === "00");
  return { enabled: true, globalAddress };
}

function readIfInet6(): string | undefined {
  try {
    return readFileSync("/proc/net/if_inet6", "utf8");
  } catch {
    return undefined;
  }
}
