/**
 * `meshctl viz dashboard`: the live view. Every refresh gathers a window of stats and the edges from
 * the chosen source, folds them into the dashboard model (viz/dashboard/model.ts) and re-renders the
 * ink view; keys move the selection, change the sort, or quit. Ink restores the terminal on exit.
 */
import { render, useInput } from "ink";
import {
  cycleSort,
  type DashboardModel,
  initialModel,
  moveSelection,
  withError,
  withSnapshot,
} from "../../viz/dashboard/model.js";
import { Dashboard } from "../../viz/dashboard/view.js";
import { edgeRows, gatherEdges } from "../../viz/edges.js";
import { gatherStat, statPlan, statRows } from "../../viz/golden.js";
import { gatherRoutes, routeRows } from "../../viz/routes.js";
import { InputError } from "../errors.js";
import type { Chosen } from "./source.js";

const REFRESH_MS = 3000;

function Keys({ onKey }: { onKey: (input: string, up: boolean, down: boolean) => void }) {
  useInput((input, key) => onKey(input, key.upArrow, key.downArrow));
  return null;
}

/** The dashboard draws on a terminal and reads keys from it: without one, say what to use instead. */
export function requireTerminal(): void {
  if (!process.stdout.isTTY || !process.stdin.isTTY)
    throw new InputError(
      "viz dashboard needs a terminal; in a script, use `meshctl viz stat deploy --demo -o json` (or --prometheus-url)",
    );
}

export async function runDashboard(chosen: Chosen): Promise<void> {
  requireTerminal();
  let model: DashboardModel = initialModel(chosen.namespace ?? "all namespaces");
  let stopped = false;
  const view = () => (
    <>
      <Dashboard model={model} />
      <Keys
        onKey={(input, up, down) => {
          if (input === "q") {
            stopped = true;
            app.unmount();
          } else if (input === "s") update(cycleSort(model));
          else if (up || input === "k") update(moveSelection(model, -1));
          else if (down || input === "j") update(moveSelection(model, 1));
        }}
      />
    </>
  );
  const app = render(view(), { exitOnCtrlC: true });
  const update = (next: DashboardModel) => {
    model = next;
    if (!stopped) app.rerender(view());
  };
  const plan = statPlan({ resource: { kind: "deployment" }, namespace: chosen.namespace });
  void (async () => {
    while (!stopped && !("error" in plan)) {
      const started = Date.now();
      try {
        const source = await chosen.open("window");
        const rows = statRows(await gatherStat(source, plan), plan.by, plan.ownProxies);
        const edges = edgeRows(await gatherEdges(source, "deployment", chosen.namespace), "deployment");
        const routes = routeRows(
          await gatherRoutes(source, { resource: { kind: "namespace" }, namespace: chosen.namespace }),
        );
        update(withSnapshot(model, rows, edges, routes));
      } catch (err) {
        update(withError(model, (err as Error).message));
      }
      // At most one refresh every few seconds, whichever source answered and however fast.
      await new Promise((r) => setTimeout(r, Math.max(REFRESH_MS - (Date.now() - started), 0)));
    }
  })();
  await app.waitUntilExit();
  stopped = true;
}
