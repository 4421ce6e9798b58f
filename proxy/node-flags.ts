/**
 * The V8 flags the sidecar runs with, wherever it is started: the `trellis-proxy` executable's
 * shebang, `meshctl demo`, the tests and the bench all pass these. A young generation capped at
 * 1 MiB per semi-space keeps a loaded proxy's memory about 20 MiB lower than V8's default (16 MiB)
 * at the cost of more, shorter scavenges: a proxy's per-request garbage dies young either way
 * (`npm run bench` measures both memory and CPU per request).
 */
export const PROXY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];
