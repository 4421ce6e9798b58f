/**
 * The proxy's configuration contract, as both planes need it: the name of every `TRELLIS_PROXY_*`
 * variable and the proxy's fixed ports. `proxy/config.ts` reads the variables (with their defaults and
 * checks); the injector writes them into the pods it meshes. One table, so neither plane can rename a
 * variable without the other seeing it.
 */

/** Every variable the proxy reads, by its name in `proxy/config.ts`. */
export const PROXY_ENV = {
  INBOUND_LISTEN_ADDR: "TRELLIS_PROXY_INBOUND_LISTEN_ADDR",
  OUTBOUND_LISTEN_ADDR: "TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR",
  ADMIN_LISTEN_ADDR: "TRELLIS_PROXY_ADMIN_LISTEN_ADDR",
  INBOUND_PORTS: "TRELLIS_PROXY_INBOUND_PORTS",
  INBOUND_APP_HOST: "TRELLIS_PROXY_INBOUND_APP_HOST",
  IDENTITY_NAME: "TRELLIS_PROXY_IDENTITY_NAME",
  IDENTITY_TRUST_ANCHORS: "TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS",
  IDENTITY_TOKEN_FILE: "TRELLIS_PROXY_IDENTITY_TOKEN_FILE",
  IDENTITY_SVC_ADDR: "TRELLIS_PROXY_IDENTITY_SVC_ADDR",
  IDENTITY_SVC_NAME: "TRELLIS_PROXY_IDENTITY_SVC_NAME",
  IDENTITY_MIN_REFRESH_MS: "TRELLIS_PROXY_IDENTITY_MIN_REFRESH_MS",
  IDENTITY_MAX_REFRESH_MS: "TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS",
  IDENTITY_RETRY_BASE_MS: "TRELLIS_PROXY_IDENTITY_RETRY_BASE_MS",
  IDENTITY_RETRY_MAX_MS: "TRELLIS_PROXY_IDENTITY_RETRY_MAX_MS",
  DESTINATIONS: "TRELLIS_PROXY_DESTINATIONS",
  DESTINATION_SVC_ADDR: "TRELLIS_PROXY_DESTINATION_SVC_ADDR",
  DESTINATION_SVC_NAME: "TRELLIS_PROXY_DESTINATION_SVC_NAME",
  DESTINATION_CONTEXT_NAMESPACE: "TRELLIS_PROXY_DESTINATION_CONTEXT_NAMESPACE",
  DESTINATION_IDLE_MS: "TRELLIS_PROXY_DESTINATION_IDLE_MS",
  DETECT_TIMEOUT_MS: "TRELLIS_PROXY_DETECT_TIMEOUT_MS",
  OPAQUE_PORTS: "TRELLIS_PROXY_OPAQUE_PORTS",
  FAILURE_ACCRUAL_CONSECUTIVE_FAILURES: "TRELLIS_PROXY_FAILURE_ACCRUAL_CONSECUTIVE_FAILURES",
  FAILURE_ACCRUAL_MIN_PENALTY_MS: "TRELLIS_PROXY_FAILURE_ACCRUAL_MIN_PENALTY_MS",
  FAILURE_ACCRUAL_MAX_PENALTY_MS: "TRELLIS_PROXY_FAILURE_ACCRUAL_MAX_PENALTY_MS",
  CONNECT_TIMEOUT_MS: "TRELLIS_PROXY_CONNECT_TIMEOUT_MS",
  MAX_HEADER_BYTES: "TRELLIS_PROXY_MAX_HEADER_BYTES",
  HTTP2_MAX_CONCURRENT_STREAMS: "TRELLIS_PROXY_HTTP2_MAX_CONCURRENT_STREAMS",
  HTTP2_MAX_RESETS: "TRELLIS_PROXY_HTTP2_MAX_RESETS",
  HTTP2_STALL_TIMEOUT_MS: "TRELLIS_PROXY_HTTP2_STALL_TIMEOUT_MS",
  SHUTDOWN_GRACE_MS: "TRELLIS_PROXY_SHUTDOWN_GRACE_MS",
  POD_NAMESPACE: "TRELLIS_PROXY_POD_NAMESPACE",
  POD_NAME: "TRELLIS_PROXY_POD_NAME",
  DEPLOYMENT: "TRELLIS_PROXY_DEPLOYMENT",
} as const;

/** The proxy's listening ports (DESIGN.md): the defaults of its listen addresses. */
export const PROXY_PORTS = {
  OUTBOUND: 4140,
  INBOUND: 4143,
  ADMIN: 4191,
  /** Reserved for a future control port; never intercepted. */
  RESERVED: 4190,
} as const;

/**
 * Ports whose traffic is not HTTP unless a workload or Service says otherwise (Linkerd's default list:
 * SMTP 25 and 587, MySQL 3306, Galera 4444, PostgreSQL 5432, Redis 6379, Elasticsearch 9300,
 * memcached 11211). On most of them the server speaks first, so waiting for the client's first bytes
 * to detect HTTP would stall the connection for the detection timeout. The proxy's default for
 * TRELLIS_PROXY_OPAQUE_PORTS, and what the destination service announces for a Service without a
 * `trellis.dev/opaque-ports` annotation.
 */
export const DEFAULT_OPAQUE_PORTS: readonly number[] = [25, 587, 3306, 4444, 5432, 6379, 9300, 11211];

/** The names of the containers injection adds to a pod; the destination service and check look for the proxy's. */
export const PROXY_CONTAINER = "trellis-proxy";
export const INIT_CONTAINER = "trellis-init";
