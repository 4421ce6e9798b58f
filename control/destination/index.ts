/**
 * The destination service: turns what the cluster holds (Services and their ready endpoints,
 * ServiceProfiles, TrafficSplits) into the streams proxies read: Get (endpoint add/remove/no_endpoints)
 * and GetProfile (routes, retry budget, weighted backends). A Source (source.ts) publishes immutable
 * snapshots: the local YAML directory (local-source.ts) or Kubernetes informers (kubernetes-source.ts,
 * translated by kubernetes.ts). Watchers (watchers.ts) share one topic per target among all its streams
 * and diff views with the pure translators (endpoints.ts, profiles.ts); the gRPC adapter (service.ts)
 * gives each stream a bounded queue and closes a stream that falls behind. Names resolve in names.ts;
 * resources are read in resources.ts, each kind's spec validated in validate.ts; failures carry
 * stable TRELLIS_E_DESTINATION_* codes (errors.ts).
 */

export { parseQuantityMilli } from "../../lib/quantity.js";
export { destinationCommand, runDestination } from "./command.js";
export { diffEndpoints, type EndpointView, endpointView } from "./endpoints.js";
export { DESTINATION_ERRORS, DestinationError, type DestinationErrorCode } from "./errors.js";
export { LocalSource, type LocalSourceOptions } from "./local-source.js";
export * from "./model.js";
export { DEFAULT_PORT, fqdn, parseAuthority, resolveTarget, type Target } from "./names.js";
export { DEFAULT_RETRY_BUDGET, profileView } from "./profiles.js";
export { type Parsed, type Problem, parseResources, type Resource } from "./resources.js";
export {
  type DestinationServiceOptions,
  type RunningDestinationService,
  startDestinationService,
} from "./server.js";
export { MemorySource, type Source } from "./source.js";
export { Watchers } from "./watchers.js";
