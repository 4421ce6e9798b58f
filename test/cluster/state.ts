/** The state file of the background test bed that `cluster:up` starts and `cluster:down` stops. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot } from "./build/paths.js";

export const STATE_DIR = join(cacheRoot(), "testbed");
export const STATE_FILE = join(STATE_DIR, "state.json");

export interface UpState {
  /** The process that runs the node stand-in and owns the control plane. */
  daemonPid: number;
  /** etcd, kube-apiserver, kube-controller-manager. */
  pids: number[];
  kubeconfigPath: string;
  dir: string;
  /** The network slot (bridge trellis<slot>br, namespaces trellis-<slot>-*). */
  slot: number;
  apiserverUrl: string;
  startedAt: string;
}

export function readState(): UpState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8")) as UpState;
  } catch {
    return undefined;
  }
}
