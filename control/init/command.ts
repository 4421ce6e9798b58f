/**
 * `trellis-controller init`: the flags and the run. It picks the iptables backend, applies the IPv4
 * rules, then the IPv6 ones where the namespace has IPv6, and logs on stdout what it chose and the
 * rules the nat table holds afterwards. `--dry-run` prints the rules and touches nothing. Exit codes:
 * 0 applied, 1 an iptables failure (one line on stderr with its TRELLIS_E_INIT_* code and the tool's
 * stderr), 2 a bad flag (named).
 */
import { Command, Option } from "commander";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../../lib/exit-codes.js";
import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { applyFamily } from "./apply.js";
import {
  type BackendTools,
  census,
  chooseMode,
  findExecutable,
  findTools,
  ipv6State,
  type Run,
  runTool,
  toolName,
} from "./backend.js";
import { InitError } from "./errors.js";
import { crossCheck, type InitFlags, portFlag, portListFlag, ruleConfig, uidFlag } from "./flags.js";
import { type Family, type RuleConfig, restoreInput, summary } from "./rules.js";

/** What runInit touches outside itself; tests pass their own. */
export interface InitIo {
  run: Run;
  find: (name: string) => string | undefined;
  ipv6: () => { enabled: boolean; globalAddress: boolean };
  /** One line of the log (stdout). */
  out: (line: string) => void;
  /** The failure line (stderr). */
  err: (line: string) => void;
}

const defaultIo: InitIo = {
  run: runTool,
  find: (name) => findExecutable(name),
  ipv6: () => ipv6State(),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Builds the `init` subcommand; its action sets process.exitCode. */
export function initCommand(): Command {
  return new Command("init")
    .description(
      "apply a meshed pod's nat rules: inbound and outbound TCP through the proxy (the trellis-init container)",
    )
    .addOption(
      new Option("--incoming-proxy-port <port>", "the proxy's inbound port: where inbound TCP is redirected")
        .default(PROXY_PORTS.INBOUND)
        .argParser(portFlag),
    )
    .addOption(
      new Option(
        "--outgoing-proxy-port <port>",
        "the proxy's outbound port: where outbound TCP is redirected",
      )
        .default(PROXY_PORTS.OUTBOUND)
        .argParser(portFlag),
    )
    .addOption(
      new Option("--proxy-uid <uid>", "the proxy's UID: its own connections are never redirected")
        .argParser(uidFlag)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--inbound-ports-to-ignore <ports>",
        "inbound ports and ranges left alone, e.g. 4190,4191,8000-8010 (the proxy's own are always)",
      )
        .default([], "")
        .argParser(portListFlag),
    )
    .addOption(
      new Option(
        "--outbound-ports-to-ignore <ports>",
        "outbound ports and ranges left alone, e.g. 5432,9000-9100",
      )
        .default([], "")
        .argParser(portListFlag),
    )
    .addOption(
      new Option("--iptables-mode <mode>", "iptables backend; auto counts the rules each one holds")
        .choices(["auto", "nft", "legacy"])
        .default("auto"),
    )
    .addOption(
      new Option("--ipv6 <mode>", "IPv6 rules: auto applies them where the namespace has IPv6")
        .choices(["auto", "on", "off"])
        .default("auto"),
    )
    .addOption(new Option("--dry-run", "print the rules (iptables-restore format) and change nothing"))
    .addHelpText(
      "after",
      `
Examples:
  trellis-controller init --proxy-uid=2102 --inbound-ports-to-ignore=4190,4191 --dry-run
  trellis-controller init --incoming-proxy-port=4143 --outgoing-proxy-port=4140 --proxy-uid=2102 \\
      --inbound-ports-to-ignore=4190,4191,9000-9010 --outbound-ports-to-ignore=5432

Rerunning it leaves exactly one copy of the rules. It logs the backend it chose and why, then the
rules the nat table holds. Exit codes: 0 applied, 1 iptables failed (its stderr is quoted), 2 bad flags.`,
    )
    .action((flags: InitFlags & { dryRun?: boolean }, cmd: Command) => {
      const parsed: InitFlags = { ...flags, dryRun: flags.dryRun === true };
      const problem = crossCheck(parsed);
      if (problem) cmd.error(`error: ${problem}`, { exitCode: EXIT_USAGE, code: "trellis.usage" });
      process.exitCode = runInit(parsed);
    });
}

/** The dry run's output: the restore input of each family, as applied to a namespace without our rules. */
export function dryRunText(config: RuleConfig, ipv6: boolean): string {
  const families: Family[] = ipv6 ? ["ipv4", "ipv6"] : ["ipv4"];
  return [
    "# trellis-init --dry-run: a pod's nat rules, for iptables-restore --noflush (nothing was changed)",
    `# ${summary(config)}`,
    ...families.flatMap((f) => [
      `# ${f === "ipv4" ? "IPv4: iptables" : "IPv6: ip6tables"}-restore --noflush`,
      restoreInput(config, f).trimEnd(),
    ]),
    "",
  ].join("\n");
}

/** Applies (or with --dry-run prints) the rules; returns the exit code. */
export function runInit(flags: InitFlags, io: InitIo = defaultIo): number {
  const config = ruleConfig(flags);
  if (flags.dryRun) {
    io.out(dryRunText(config, flags.ipv6 !== "off").trimEnd());
    return EXIT_OK;
  }
  try {
    const tools = pickBackend(flags, io);
    io.out(`trellis-init: ${summary(config)}`);
    apply(tools, "ipv4", config, io);
    applyIpv6(tools, flags, config, io);
    io.out("trellis-init: done");
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof InitError)) throw err;
    io.err(`trellis-init: ${err.message}`);
    return EXIT_FAILURE;
  }
}

function pickBackend(flags: InitFlags, io: InitIo): BackendTools {
  if (flags.iptablesMode !== "auto") {
    const tools = findTools(flags.iptablesMode, io.find);
    if (!tools.ipv4)
      throw new InitError(
        "TRELLIS_E_INIT_TOOL_MISSING",
        `--iptables-mode=${flags.iptablesMode} needs ${toolName(flags.iptablesMode, "ipv4", "save")} and ` +
          `${toolName(flags.iptablesMode, "ipv4", "restore")} on PATH; install them or use --iptables-mode=auto`,
      );
    io.out(`trellis-init: iptables backend ${tools.backend} (--iptables-mode=${flags.iptablesMode})`);
    return tools;
  }
  const nft = findTools("nft", io.find);
  const legacy = findTools("legacy", io.find);
  const nftCensus = census(nft, io.run);
  const legacyCensus = census(legacy, io.run);
  const choice = chooseMode(nftCensus, legacyCensus);
  if (!choice)
    throw new InitError(
      "TRELLIS_E_INIT_NO_IPTABLES",
      `neither backend can be used: nft ${"unusable" in nftCensus ? nftCensus.unusable : "?"}; ` +
        `legacy ${"unusable" in legacyCensus ? legacyCensus.unusable : "?"}`,
    );
  io.out(`trellis-init: iptables backend ${choice.backend} (auto: ${choice.reason})`);
  return choice.backend === "nft" ? nft : legacy;
}

function apply(tools: BackendTools, family: Family, config: RuleConfig, io: InitIo): void {
  const familyTools = tools[family];
  if (!familyTools) throw new Error(`no ${family} tools`); // callers check first
  const applied = applyFamily(familyTools, family, config, io.run);
  const replaced = applied.input.split("\n").filter((l) => l.startsWith("-D ")).length;
  io.out(
    `trellis-init: ${family === "ipv4" ? "IPv4" : "IPv6"}: applied with ${familyTools.restore} --noflush` +
      (replaced > 0 ? ` (replacing ${replaced} earlier jump${replaced === 1 ? "" : "s"})` : "") +
      "; the nat table holds:",
  );
  for (const line of applied.rules) io.out(`  ${line}`);
}

/**
 * IPv6 gets the same rules wherever the namespace has IPv6, so no IPv6 connection slips past the proxy
 * (the proxy listens on IPv4, so an intercepted IPv6 connection is refused rather than carried in
 * plaintext). Where the pod has no global IPv6 address nothing can reach it or leave it over IPv6, so
 * missing or failing ip6tables is logged and the run goes on; with one, it is a failure.
 */
function applyIpv6(tools: BackendTools, flags: InitFlags, config: RuleConfig, io: InitIo): void {
  if (flags.ipv6 === "off") {
    io.out("trellis-init: IPv6: not applied (--ipv6=off)");
    return;
  }
  const state = flags.ipv6 === "on" ? { enabled: true, globalAddress: true } : io.ipv6();
  if (!state.enabled) {
    io.out("trellis-init: IPv6: not applied: this network namespace has no IPv6 (no /proc/net/if_inet6)");
    return;
  }
  const why = flags.ipv6 === "on" ? "--ipv6=on" : "this pod has a global IPv6 address";
  if (!tools.ipv6) {
    const missing = `${toolName(tools.backend, "ipv6", "save")} or -restore is not installed`;
    if (state.globalAddress) throw new InitError("TRELLIS_E_INIT_TOOL_MISSING", `${missing} (${why})`);
    io.out(`trellis-init: IPv6: not applied: ${missing}; this pod has no global IPv6 address`);
    return;
  }
  try {
    apply(tools, "ipv6", config, io);
  } catch (err) {
    if (!(err instanceof InitError) || state.globalAddress) throw err;
    io.out(
      `trellis-init: IPv6: not applied, and this pod has no global IPv6 address to need it: ${err.message}`,
    );
  }
}
