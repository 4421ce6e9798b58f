/**
 * A path under test, as the runner sees it: where the load generator sends requests, and which
 * processes are its sidecars (whose memory is reported).
 */
import type { PathName } from "./report.js";

export interface Target {
  name: PathName;
  /** Shown in the VIA column: what a request crosses. */
  description: string;
  /** host:port the load generator connects to. */
  address: string;
  /** Each sidecar's PIDs (an nginx master with its worker counts as one sidecar). Empty for direct. */
  sidecars: Record<string, () => number[]>;
  /** Admin (metrics) addresses of the sidecars, where they have one. */
  admin?: Record<string, string>;
}

/** A path that could not be set up, and why (a part of Trellis not built yet, a tool missing). */
export type TargetResult = { ok: true; target: Target } | { ok: false; reason: string };
