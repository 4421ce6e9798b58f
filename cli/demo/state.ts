/**
 * Where a running `meshctl demo` says its proxies are, so `meshctl viz --demo` can scrape them: one
 * JSON file per demo, named after its process id, in `$XDG_RUNTIME_DIR/trellis/demos/` (or
 * `<os.tmpdir()>/trellis-demos-<uid>/` without one). The demo writes it once every proxy is ready
 * and removes it when it stops; a demo that died without removing it is recognised by its dead pid
 * and ignored. "The" demo is the newest live one; `--demo-state PATH` picks another.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export interface DemoStateProxy {
  /** The workload (its Deployment and ServiceAccount). */
  name: string;
  /** The pod's name, as its proxy labels its series. */
  pod: string;
  /** host:port of the proxy's admin server. */
  admin: string;
  identity: string;
}

export interface DemoState {
  pid: number;
  /** When the demo became ready, ms since the epoch. */
  startedAt: number;
  namespace: string;
  /** The destination service's local store (Services, TrafficSplits), which the user may edit. */
  storeDir: string;
  proxies: DemoStateProxy[];
  /** Every process the demo started (control plane, proxies, apps), gone once the demo has stopped. */
  processes?: { name: string; pid: number }[];
}

export function demoStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, "trellis", "demos") : join(tmpdir(), `trellis-demos-${userInfo().uid}`);
}

/** Writes the state of this process's demo; returns its path. */
export async function writeDemoState(state: DemoState, dir = demoStateDir()): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${state.pid}.json`);
  // Written whole then renamed, so a reader never sees half a file.
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return path;
}

export async function removeDemoState(path: string): Promise<void> {
  await rm(path, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function readDemoState(path: string): Promise<DemoState> {
  return JSON.parse(await readFile(path, "utf8")) as DemoState;
}

/** The newest live demo's state and its path, or undefined when no demo is running. */
export async function findDemoState(
  dir = demoStateDir(),
): Promise<{ path: string; state: DemoState } | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let best: { path: string; state: DemoState } | undefined;
  for (const name of names) {
    if (!name.endsWith(".json")) continue;
    const path = join(dir, name);
    const state = await readDemoState(path).catch(() => undefined);
    if (!state) continue;
    // A demo killed outright could not remove its file: its pid is gone, so is the file now.
    if (!alive(state.pid)) {
      await rm(path, { force: true });
      continue;
    }
    if (!best || state.startedAt > best.state.startedAt) best = { path, state };
  }
  return best;
}
