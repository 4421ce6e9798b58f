// `meshctl viz dashboard --demo` once in a real terminal: tmux (a server of the test's own) runs it in
// an 80×24 pane next to a real `meshctl demo --headless`, with CI=true as some users' shells export
// it; the test reads the pane, presses keys, and sees it quit with 0 leaving the terminal as it found
// it: main screen, cursor shown, echo and canonical mode back. Then once more, ended by SIGTERM.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bin, startNode } from "../support/process.js";
import { assertFits, PRINT_TERMINAL_MODES, startPane } from "../support/tmux.js";
import { requireTools } from "../support/tools.js";

test("viz dashboard --demo in an 80×24 tmux pane: workloads with sparklines, keys, q and SIGTERM restore the terminal", async (t) => {
  if (!requireTools(t, "tmux")) return;
  const runtime = await mkdtemp(join(tmpdir(), "trellis-viz-tmux-"));
  t.after(() => rm(runtime, { recursive: true, force: true }));
  const demo = startNode(t, bin("meshctl"), ["demo", "--headless", "--duration", "150"], {
    XDG_RUNTIME_DIR: runtime,
  });
  await demo.waitForLine((l) => l.includes('"state"'), 60_000);

  // Each run records the dashboard's PID (the shell execs it), then says how it ended and the terminal's modes.
  const dashboard = (n: number) =>
    `sh -c 'echo $$ > ${runtime}/dashboard-${n}.pid; exec "${process.execPath}" "${bin("meshctl")}" viz dashboard --demo'
echo "dashboard ${n} exited $?"
${PRINT_TERMINAL_MODES}`;
  const pane = await startPane(
    t,
    runtime,
    `export XDG_RUNTIME_DIR='${runtime}' CI=true
${dashboard(1)}
${dashboard(2)}
sleep 60
`,
  );

  // Two refreshes: every workload shows, with some history in its sparkline.
  const screen = await pane.waitFor(
    /^. web\s+\d+\.\d+%\s+\d+\.\drps.*[▁▂▃▄▅▆▇█]{2}/m,
    "web with a two-point sparkline",
    60_000,
  );
  for (const name of ["authors", "books", "books-v2", "traffic", "web"])
    assert.match(screen, new RegExp(`^. ${name}\\s`, "m"));
  assert.match(screen, /^Trellis · namespace demo \(1\/1\) · sorted by name$/m);
  assert.match(screen, /^Edges of authors$/m);
  assert.match(screen, /√ mTLS/);
  assert.match(screen, /^TrafficSplit books-canary \(books\)/m);
  assert.match(screen, /^store \/\S+\/mesh: edit its TrafficSplits/m);
  assert.match(screen, /s sort: name rps success p99 · q quit/);
  assertFits(screen);
  assert.deepEqual(await pane.state(), { alternateScreen: true, cursorShown: false });
  t.diagnostic(`\n${screen}`);

  await pane.keys("s");
  await pane.waitFor(/sorted by rps/, "the sort key change");
  // authors leads by RPS too (it is called by books and web); Down selects the next.
  await pane.keys("Down");
  await pane.waitFor(/^› (?!authors)\S+/m, "the selection moved");
  await pane.keys("n");
  await pane.waitFor(/namespace demo \(1\/1\)/, "one namespace: n stays on it");
  await pane.keys("q");
  // The shell after it runs on: the dashboard quit with 0 and left the terminal as it was.
  await pane.waitFor(
    /dashboard 1 exited 0\nterminal: icanon echo/,
    "the dashboard's exit, the modes restored",
  );
  assert.deepEqual(await pane.state(), { alternateScreen: false, cursorShown: true });

  // The second run, ended by SIGTERM rather than a key.
  await pane.waitFor(/^. web\s+\d/m, "the second dashboard", 60_000);
  const pid = Number(await readFile(join(runtime, "dashboard-2.pid"), "utf8"));
  process.kill(pid, "SIGTERM");
  const after = await pane.waitFor(/dashboard 2 exited 0\nterminal: icanon echo/, "the exit on SIGTERM");
  assert.deepEqual(await pane.state(), { alternateScreen: false, cursorShown: true });
  assert.doesNotMatch(after, /Trellis · namespace/, "the dashboard left with the alternate screen");
});
