// The dashboard's ink view rendered with ink-testing-library: the demo's workloads, the selected
// one's edges, the help line, within 80 columns and 24 lines.
import assert from "node:assert/strict";
import { test } from "node:test";
import { render } from "ink-testing-library";
import { initialModel, withSnapshot } from "../../../viz/dashboard/model.js";
import { Dashboard } from "../../../viz/dashboard/view.js";
import type { StatRow } from "../../../viz/golden.js";

const row = (name: string, rps: number, success: number | undefined): StatRow => ({
  namespace: "demo",
  name,
  success,
  rps,
  latencyMsP50: 3,
  latencyMsP95: 9,
  latencyMsP99: 20,
});

test("the dashboard shows the demo's workloads, the selected one's edges and the keys, in 80×24", () => {
  let model = initialModel("demo");
  const names = ["authors", "books", "books-v2", "traffic", "web"];
  for (let i = 1; i <= 5; i++)
    model = withSnapshot(
      model,
      names.map((n) => row(n, n === "traffic" ? 0 : i * 2, n === "traffic" ? undefined : 0.97)),
      [
        {
          src: "authors",
          dst: "x",
          srcNamespace: "demo",
          dstNamespace: "demo",
          clientId: undefined,
          serverId: undefined,
          secured: true,
        },
        {
          src: "web",
          dst: "authors",
          srcNamespace: "demo",
          dstNamespace: "demo",
          clientId: undefined,
          serverId: undefined,
          secured: "no identity: the destination is not meshed",
        },
      ],
    );
  model = {
    ...model,
    routes: [
      {
        route: "GET /books/{id}",
        service: "authors",
        success: 1,
        rps: 2.5,
        latencyMsP50: 1,
        latencyMsP95: 2,
        latencyMsP99: 4,
      },
      {
        route: "[DEFAULT]",
        service: "authors",
        success: 0.9,
        rps: 7.5,
        latencyMsP50: 1,
        latencyMsP95: 2,
        latencyMsP99: 9,
      },
      {
        route: "[DEFAULT]",
        service: "web",
        success: 1,
        rps: 1,
        latencyMsP50: 1,
        latencyMsP95: 2,
        latencyMsP99: 9,
      },
    ],
  };
  const { lastFrame, unmount } = render(<Dashboard model={model} />);
  const frame = lastFrame() ?? "";
  unmount();
  const lines = frame.split("\n");
  assert.ok(lines.length <= 24, `${lines.length} lines`);
  for (const line of lines) assert.ok(line.length <= 80, `over 80 columns: ${line}`);
  assert.match(frame, /namespace demo · sorted by name/);
  for (const n of names) assert.match(frame, new RegExp(`\\b${n}\\b`));
  assert.match(frame, /› authors\s+97\.00%\s+10\.0rps\s+3\.0ms\s+20ms\s+▂▃▅▆█/);
  assert.match(frame, /Edges of authors/);
  assert.match(frame, /authors → x\s+√ mTLS/);
  assert.match(
    frame,
    /web → authors\s+× no identity: the destination is not\nRoutes of/,
    "a reason too long for the line is cut, not wrapped",
  );
  assert.match(
    frame,
    /Routes of authors\nGET \/books\/\{id\}\s+100\.00%\s+2\.5rps\s+4\.0ms\n\[DEFAULT\]\s+90\.00%/,
  );
  assert.doesNotMatch(frame, /9\.0ms\n.*\[DEFAULT\]\s+100\.00%/, "only the selected workload's routes");
  assert.match(frame, /↑\/↓ select · s sort · q quit/);
});
