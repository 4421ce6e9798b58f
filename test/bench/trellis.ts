/**
 * The Trellis path: the identity service (local token verifier) certifies two proxies, both real
 * `trellis-proxy` processes: client app → outbound proxy → mTLS → inbound proxy → backend.
 */
import { existsSync } from "node:fs";
import { bin } from "../support/process.js";
import type { BenchPki } from "./pki.js";
import type { TargetResult } from "./target.js";

/** Starts the identity service and the two proxies; resolves once both proxies are ready. */
export async function startTrellis(
  _dir: string,
  _pki: BenchPki,
  _backendPort: number,
): Promise<TargetResult> {
  for (const name of ["trellis-controller", "trellis-proxy"] as const) {
    if (!existsSync(bin(name))) return { ok: false, reason: `${bin(name)} is not built (npm run build)` };
  }
  return { ok: false, reason: "the Trellis path is not wired yet" };
}
