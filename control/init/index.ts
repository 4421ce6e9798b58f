/**
 * trellis-init (`trellis-controller init`): the init container that puts a meshed pod's traffic through
 * its proxy, as Linkerd's proxy-init does. It owns the pod's nat rules: inbound TCP redirected to the
 * proxy's inbound port except the proxy's own ports and the ignored ones, outbound TCP redirected to the
 * proxy's outbound port except the proxy's own traffic (by UID), loopback and the ignored ports. rules.ts
 * builds them (pure), backend.ts picks iptables-nft or iptables-legacy as the namespace uses, apply.ts
 * installs them atomically and idempotently, flags.ts parses and checks the flags, command.ts is the
 * subcommand, and errors.ts holds the TRELLIS_E_INIT_* codes. It runs once per pod, as root with NET_ADMIN and NET_RAW, and exits.
 */
export { type Applied, applyFamily } from "./apply.js";
export {
  type Backend,
  type BackendTools,
  type Census,
  census,
  chooseMode,
  countRules,
  findTools,
  type IptablesMode,
  ipv6State,
  type ModeChoice,
  type Run,
  type RunResult,
  runTool,
} from "./backend.js";
export { dryRunText, type InitIo, initCommand, runInit } from "./command.js";
export { INIT_ERRORS, InitError, type InitErrorCode } from "./errors.js";
export {
  crossCheck,
  type InitFlags,
  type Ipv6Mode,
  portFlag,
  portListFlag,
  proxyOwnPorts,
  ruleConfig,
  uidFlag,
} from "./flags.js";
export {
  CHAINS,
  COMMENT_PREFIX,
  chainRules,
  desiredRules,
  type Family,
  jumpRules,
  multiportGroups,
  ownRules,
  type RuleConfig,
  restoreInput,
  summary,
} from "./rules.js";
