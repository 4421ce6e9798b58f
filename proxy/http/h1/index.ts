/**
 * The HTTP/1.x relay: the proxy's own HTTP/1.1 codec, with llhttp as the parser (parser.ts) and no
 * node:http objects in the way. The server side (server.ts, one exchange per request in
 * server-exchange.ts) parses requests off a client connection and answers each as a Downstream; the
 * client side (client.ts, one exchange per request in client-exchange.ts) keeps a pool of keep-alive
 * connections per endpoint and hands responses on as UpstreamResponses. Both write bodies with
 * body.ts, and both work on a Conn (conn.ts): a socket, or a stream of the mux between two proxies.
 */
export { Http1Pool, type Http1PoolOptions, Http1Pools, plainPoolOptions } from "./client.js";
export type { Conn } from "./conn.js";
export { headerLines } from "./parser.js";
export { Http1Server, type Http1ServerOptions, type UpgradeRequest } from "./server.js";
