/**
 * The V8 flags the sidecar runs with, wherever it is started: the `trellis-proxy` executable's
 * shebang, `meshctl demo`, the tests and the bench all pass these. `npm run bench` measures both
 * memory and CPU per request; none of them made CPU per request worse there.
 * - `--max-semi-space-size=1`: a young generation capped at 1 MiB per semi-space keeps a loaded
 *   proxy about 20 MiB smaller than V8's default (16 MiB), for more and shorter scavenges; a proxy's
 *   per-request garbage dies young either way.
 * - `--no-sparkplug`: no baseline-compiled copy of every function that ran a few times (about 1 MiB
 *   idle); a long-running proxy's hot path is optimised by TurboFan regardless, and Sparkplug only
 *   speeds up the first seconds.
 * - `--optimize-for-size`: V8's heap and code heuristics favour memory. On Node 24, which the image
 *   ships, it kept a loaded proxy at 91 MiB instead of 112; on Node 20 it saved about 1.5 MiB idle.
 */
export const PROXY_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--no-sparkplug",
  "--optimize-for-size",
];
