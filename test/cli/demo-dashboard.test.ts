// `meshctl demo` as the quick start runs it, in a real terminal: tmux (a server of the test's own) runs
// it in an 80×24 pane with CI=true, as some users' shells export it. The demo opens the dashboard on
// its own proxies; the test sees the workloads with traffic, the retried route, edits the split's
// weights in the store and watches the canary's share follow, presses Ctrl-C, and checks that every
// process the demo started is gone, its state file removed and the terminal restored.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DemoState } from "../../cli/demo/state.js";
import { bin } from "../support/process.js";
import { assertFits, PRINT_TERMINAL_MODES, startPane } from "../support/tmux.js";
import { requireTools } from "../support/tools.js";

/** The demo's state file, once it has written it. */
async function stateOf(dir: string, ms: number): Promise<{ path: string; state: DemoState }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".json"));
    if (names[0]) {
      const path = join(dir, names[0]);
      return { path, state: JSON.parse(await readFile(path, "utf8")) as DemoState };
    }
    assert.ok(Date.now() < deadline, `no demo state file in ${dir} within ${ms / 1000} s`);
    await sleep(250);
  }
}

/** Whether a process still runs (a zombie does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/** The canary's weight and share of the split, as the dashboard shows them. */
function canary(screen: string): { weight: number; share: number } | undefined {
  const m = /^ {2}books-v2\s+(\d+)%\s+([\d.]+)%/m.exec(screen);
  return m ? { weight: Number(m[1]), share: Number(m[2]) } : undefined;
}

test("meshctl demo in an 80×24 terminal: the dashboard on its proxies, a split edit followed, Ctrl-C stops everything", async (t) => {
  if (!requireTools(t, "tmux")) return;
  if (process.platform !== "linux") return t.skip("checks processes through /proc");
  const runtime = await mkdtemp(join(tmpdir(), "trellis-demo-tmux-"));
  t.after(() => rm(runtime, { recursive: true, force: true }));
  const pane = await startPane(
    t,
    runtime,
    `export XDG_RUNTIME_DIR='${runtime}' CI=true
"${process.execPath}" "${bin("meshctl")}" demo --duration 170
echo "demo exited $?"
${PRINT_TERMINAL_MODES}
sleep 120
`,
  );
  const { path: statePath, state } = await stateOf(join(runtime, "trellis", "demos"), 90_000);
  const pids = (state.processes ?? []).map((p) => p.pid);
  // identity, destination, and a proxy and an app per workload
  assert.equal(pids.length, 12, JSON.stringify(state.processes));
  t.after(() => {
    for (const pid of [state.pid, ...pids]) if (running(pid)) process.kill(pid, "SIGKILL");
  });

  // The dashboard: the demo's workloads with traffic, on the alternate screen, the store in its footer.
  let screen = await pane.waitFor(
    /^. web\s+\d+\.\d+%\s+(?!0\.0rps)\d+\.\drps/m,
    "web with requests per second",
    60_000,
  );
  for (const name of ["authors", "books", "books-v2", "traffic", "web"])
    assert.match(screen, new RegExp(`^. ${name}\\s`, "m"));
  assert.ok(screen.includes(`store ${state.storeDir}: edit books-canary.yaml`), screen);
  assert.deepEqual(await pane.state(), { alternateScreen: true, cursorShown: false });
  assertFits(screen);
  t.diagnostic(`\n${screen}`);
  // authors' GET /authors fails now and then and is retried by its callers' proxies.
  await pane.waitFor(
    /^ {2}GET \/authors\s+\S+\s+\S+\s+(?!0\.0\/s)\d+\.\d\/s/m,
    "retries on GET /authors",
    30_000,
  );

  // About a tenth to the canary; then the user moves the weights to half each and the share follows.
  const before = canary(screen);
  assert.equal(before?.weight, 10, screen);
  assert.ok(before && before.share < 35, `books-v2 gets about 10 %: ${before?.share}`);
  const split = join(state.storeDir, "books-canary.yaml");
  await writeFile(split, (await readFile(split, "utf8")).replace(/weight: \d+/g, "weight: 50"));
  const deadline = Date.now() + 45_000;
  for (;;) {
    screen = await pane.capture();
    const now = canary(screen);
    if (now?.weight === 50 && now.share > 35) break;
    assert.ok(
      Date.now() < deadline,
      `the canary's share did not follow the new weights within 45 s:\n${screen}`,
    );
    await sleep(500);
  }
  assertFits(screen);

  // Ctrl-C: the dashboard reads it as a key (raw mode) and the demo stops everything.
  await pane.keys("C-c");
  await pane.waitFor(/demo exited 0\nterminal: icanon echo/, "the demo's exit, the modes restored", 45_000);
  assert.deepEqual(await pane.state(), { alternateScreen: false, cursorShown: true });
  const after = await pane.capture();
  assert.match(after, /Stopped \(quit\)\./);
  assert.equal(existsSync(statePath), false, "the state file is removed");
  assert.deepEqual([state.pid, ...pids].filter(running), [], "every process the demo started is gone");
});
