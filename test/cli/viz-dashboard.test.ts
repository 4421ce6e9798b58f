// The dashboard once in a real terminal: tmux (a server of the test's own) runs
// `meshctl viz dashboard --demo` in an 80×24 pane next to a real `meshctl demo --headless`; the test
// reads the pane, presses keys, and sees it quit with 0.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { bin, startNode } from "../support/process.js";
import { requireTools } from "../support/tools.js";

const run = promisify(execFile);

test("viz dashboard --demo in an 80×24 tmux pane: workloads with sparklines, s sorts, q quits", async (t) => {
  if (!requireTools(t, "tmux")) return;
  const runtime = await mkdtemp(join(tmpdir(), "trellis-viz-tmux-"));
  t.after(() => rm(runtime, { recursive: true, force: true }));
  const demo = startNode(t, bin("meshctl"), ["demo", "--headless", "--duration", "120"], {
    XDG_RUNTIME_DIR: runtime,
  });
  await demo.waitForLine((l) => l.includes('"state"'), 60_000);

  const socket = join(runtime, "tmux.sock");
  const tmux = (...args: string[]) => run("tmux", ["-S", socket, ...args]);
  t.after(() => tmux("kill-server").catch(() => undefined));
  // The pane runs the dashboard, then prints a marker once it has exited, so the test sees it quit.
  const script = join(runtime, "run.sh");
  await writeFile(
    script,
    `export XDG_RUNTIME_DIR='${runtime}'\n# A user's terminal: ink draws only the last frame when it believes it runs in CI.\nunset CI CONTINUOUS_INTEGRATION BUILD_NUMBER RUN_ID\n'${process.execPath}' '${bin("meshctl")}' viz dashboard --demo\necho "dashboard exited $?"\nsleep 30\n`,
  );
  await tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "viz", `sh ${script}`);
  const pane = async () => (await tmux("capture-pane", "-p", "-t", "viz")).stdout;
  const waitFor = async (re: RegExp, what: string) => {
    const deadline = Date.now() + 30_000;
    let text = "";
    while (Date.now() < deadline) {
      text = await pane();
      if (re.test(text)) return text;
      await sleep(250);
    }
    assert.fail(`${what} did not show within 30 s:\n${text}`);
  };

  // Two refreshes: every workload shows, with some history in its sparkline.
  const screen = await waitFor(
    /web\s+\d+\.\d+%\s+\d+\.\drps.*[▁▂▃▄▅▆▇█]{2}/,
    "web with a two-point sparkline",
  );
  for (const name of ["authors", "books", "books-v2", "traffic", "web"])
    assert.match(screen, new RegExp(`\\b${name}\\b`));
  assert.match(screen, /Edges of authors/);
  assert.match(screen, /√ mTLS/);
  for (const line of screen.split("\n")) assert.ok(line.length <= 80);
  t.diagnostic(`\n${screen}`);

  await tmux("send-keys", "-t", "viz", "s");
  await waitFor(/sorted by rps/, "the sort key change");
  await tmux("send-keys", "-t", "viz", "Down");
  await waitFor(/›\s+\S+/, "a selection");
  await tmux("send-keys", "-t", "viz", "q");
  // The shell after it runs on: the dashboard quit with 0 and left the pane usable.
  await waitFor(/dashboard exited 0/, "the dashboard's exit");
});
