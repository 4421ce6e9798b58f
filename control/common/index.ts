/**
 * What every controller shares and none owns: the admin HTTP server (health, readiness, metrics) each
 * service listens on (admin.ts), the command-line flag parsers their commands agree on (flags.ts),
 * the TokenVerifier interface that the identity service asks and control/local implements
 * (token-verifier.ts), the `trellis.dev/` annotations (annotations.ts), what install and the
 * injector agree on about an installed mesh (mesh-config.ts), the port-list grammar of the
 * `skip-*-ports` annotations and trellis-init's flags (ports.ts), and watching files a volume mounts
 * (file-watch.ts). It imports only lib/ and control/api/, so any controller may import it.
 */
export { type AdminOptions, createAdminServer, listenAdmin } from "./admin.js";
export { FILE_WATCH_DEBOUNCE_MS, FILE_WATCH_POLL_INTERVAL_MS, watchFiles } from "./file-watch.js";
export {
  dnsLabel,
  nonNegativeDuration,
  ownIdentityOptions,
  parseListenAddress,
  positiveDuration,
  trustDomain,
} from "./flags.js";
export {
  formatPortRange,
  PORT_OR_RANGE_HINT,
  type PortRange,
  parsePort,
  parsePortList,
  parsePortOrRange,
} from "./ports.js";
export { parseServiceAccountUsername, type TokenVerdict, type TokenVerifier } from "./token-verifier.js";
