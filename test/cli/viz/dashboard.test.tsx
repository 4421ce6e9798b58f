// The live dashboard component with ink-testing-library: refreshes arrive through its feed, keys
// switch the namespace (n), the sort (s) and the selection, and q or Ctrl-C quit; in 80×24 throughout.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { render } from "ink-testing-library";
import { Feed, LiveDashboard } from "../../../cli/viz/dashboard.js";
import { demoSnapshot } from "../../viz/dashboard/fixtures.js";

/** The first frame from now on that matches, within 5 s. */
async function frameMatching(lastFrame: () => string | undefined, re: RegExp): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const frame = lastFrame() ?? "";
    if (re.test(frame)) return frame;
    assert.ok(Date.now() < deadline, `no frame matched ${re} within 5 s; the last:\n${frame}`);
    await sleep(10);
  }
}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    assert.ok(Date.now() < deadline, `${what}: not within 5 s`);
    await sleep(10);
  }
}

function fits(frame: string): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= 24, `${lines.length} lines`);
  for (const l of lines) assert.ok(Array.from(l).length <= 80, `over 80 columns: ${l}`);
}

/** The workloads' names in the order shown: the table ends at the first blank line. */
const order = (frame: string) =>
  [...(frame.split(/\n\s*\n/)[0] ?? "").matchAll(/^[› ] ([a-z][a-z0-9-]*) /gm)].map((m) => m[1]);

test("n cycles through the namespaces of the data, s through the sort keys, arrows move the selection; in 80×24", async (t) => {
  const feed = new Feed();
  const namespaces: (string | undefined)[] = [];
  let quits = 0;
  const { lastFrame, stdin, unmount } = render(
    <LiveDashboard
      namespace="demo"
      feed={feed}
      note="store /tmp/trellis-demo-x/mesh: edit books-canary.yaml to move the canary"
      onQuit={() => quits++}
      onNamespace={(ns) => namespaces.push(ns)}
      size={{ columns: 80, rows: 24 }}
    />,
  );
  t.after(unmount);
  fits(await frameMatching(lastFrame, /waiting for the first window…/));
  feed.publish({ snapshot: demoSnapshot(1) });
  feed.publish({ snapshot: demoSnapshot(2) });
  let frame = await frameMatching(lastFrame, /namespace demo \(1\/2\) · sorted by name/);
  fits(frame);
  assert.deepEqual(order(frame), ["authors", "books", "books-v2", "traffic", "web"]);
  assert.match(frame, /^› authors/m);
  assert.match(frame, /store \/tmp\/trellis-demo-x\/mesh/);

  stdin.write("s");
  frame = await frameMatching(lastFrame, /sorted by rps/);
  assert.deepEqual(order(frame), ["authors", "web", "books", "books-v2", "traffic"]);
  stdin.write("s");
  frame = await frameMatching(lastFrame, /sorted by success/);
  assert.deepEqual(order(frame), ["books-v2", "authors", "web", "books", "traffic"], "the worst first");
  stdin.write("j");
  frame = await frameMatching(lastFrame, /^› authors/m);
  assert.match(frame, /Routes of authors/);

  stdin.write("n");
  frame = await frameMatching(lastFrame, /namespace shop \(2\/2\)/);
  fits(frame);
  assert.deepEqual(order(frame), ["checkout", "cart"], "the new namespace's workloads, still by success");
  assert.match(frame, /^› checkout/m);
  assert.match(frame, /cart → checkout\s+× no identity: the destination is not m…$/m);
  assert.doesNotMatch(frame, /TrafficSplit|authors/);
  await until(() => namespaces.at(-1) === "shop", "the refresh loop learns the namespace shown");
  stdin.write("n");
  frame = await frameMatching(lastFrame, /namespace demo \(1\/2\)/);
  await until(() => namespaces.at(-1) === "demo", "and learns it again");

  // A refresh that fails keeps the last numbers and says why; the next one clears it.
  feed.publish({ error: "no proxy answered on its admin port" });
  frame = await frameMatching(lastFrame, /refresh failed: no proxy answered/);
  assert.match(frame, /^. authors/m);
  feed.publish({ snapshot: demoSnapshot(3) });
  await frameMatching(lastFrame, /^(?![\s\S]*refresh failed)/);
  assert.equal(quits, 0);
});

test("q and Ctrl-C quit, also behind other keys read at once", async (t) => {
  for (const key of ["q", "\x03", "snq"]) {
    let quits = 0;
    const { stdin, unmount } = render(
      <LiveDashboard
        namespace="demo"
        feed={new Feed()}
        onQuit={() => quits++}
        size={{ columns: 80, rows: 24 }}
      />,
    );
    t.after(unmount);
    stdin.write(key);
    await until(() => quits === 1, `${JSON.stringify(key)} quits`);
  }
});
