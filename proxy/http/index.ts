/**
 * The proxy's HTTP machinery, the same for both directions: one request crossing the proxy as a
 * Downstream (the client's side) and an Upstream (the endpoint's side) joined by `exchange`
 * (exchange.ts); header hygiene between HTTP/1.1 and HTTP/2 (headers.ts); HTTP/2 client sessions per
 * peer (sessions.ts), requests over them (upstream.ts) and server streams as Downstreams
 * (downstream.ts); the HTTP/1.x relay (h1/); and the one edge module that turns a ProxyError into a
 * response (error-response.ts). What to do with a request (route, retry, balance) is the outbound and
 * inbound stages' business, not this folder's.
 */
export { type CutOffReason, guardSession, serverOptions } from "./abuse.js";
export { http2Downstream } from "./downstream.js";
export { PROXY_ERROR_HEADER, respondHttp2Error, upgradeRefusal, writeHttp1Error } from "./error-response.js";
export {
  type Downstream,
  exchange,
  type ProxyRequest,
  refuse,
  type Upstream,
  type UpstreamCallback,
  type UpstreamResponse,
  withTimeout,
} from "./exchange.js";
export {
  DST_PORT_HEADER,
  endToEnd,
  first,
  type Headers,
  type HopFields,
  headerListBytes,
  isGrpc,
  splitHeaders,
  trailersOf,
} from "./headers.js";
export { http } from "./node-http.js";
export {
  CLIENT_IDLE_TIMEOUT_MS,
  closeWhenIdle,
  countStream,
  idleSessionDeadline,
  SessionPool,
  type SessionSource,
  settingsDeadline,
} from "./sessions.js";
export { http2Upstream } from "./upstream.js";
