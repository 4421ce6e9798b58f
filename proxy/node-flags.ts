/**
 * The V8 flags the sidecar runs with, wherever it is started: the `trellis-proxy` executable's
 * shebang, `meshctl demo`, the tests and the bench all pass these. Each one makes the proxy smaller,
 * which a sidecar beside every pod pays for many times over, without making CPU per request worse
 * (docs/performance.md has the figures).
 * - `--max-semi-space-size=1`: a young generation of at most 1 MiB per semi-space (V8's default is
 *   16 MiB), for more and shorter scavenges; a proxy's per-request garbage dies young either way.
 * - `--no-sparkplug`: no baseline-compiled copy of every function that ran a few times; a
 *   long-running proxy's hot path is optimised by TurboFan regardless, and Sparkplug only speeds up
 *   the first seconds.
 * - `--optimize-for-size`: V8's heap and code heuristics favour memory.
 */
export const PROXY_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--no-sparkplug",
  "--optimize-for-size",
];
