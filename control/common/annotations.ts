/**
 * The `trellis.dev/` annotations, one table for every part that writes or reads them: the injector and
 * `meshctl inject` (all of them), the destination service (opaque ports), install and check (inject),
 * viz install (config-checksum).
 */

export const ANNOTATION_PREFIX = "trellis.dev/";
export const ANNOTATIONS = {
  INJECT: "trellis.dev/inject",
  PROXY_VERSION: "trellis.dev/proxy-version",
  PROXY_CPU_REQUEST: "trellis.dev/proxy-cpu-request",
  PROXY_CPU_LIMIT: "trellis.dev/proxy-cpu-limit",
  PROXY_MEMORY_REQUEST: "trellis.dev/proxy-memory-request",
  PROXY_MEMORY_LIMIT: "trellis.dev/proxy-memory-limit",
  SKIP_INBOUND_PORTS: "trellis.dev/skip-inbound-ports",
  SKIP_OUTBOUND_PORTS: "trellis.dev/skip-outbound-ports",
  OPAQUE_PORTS: "trellis.dev/opaque-ports",
  PROXY_LOG_LEVEL: "trellis.dev/proxy-log-level",
  /** A pod template's hash of the configuration it reads (viz's Prometheus): a new one rolls the pods. */
  CONFIG_CHECKSUM: "trellis.dev/config-checksum",
} as const;
