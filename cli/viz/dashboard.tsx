/**
 * The live dashboard of `meshctl viz dashboard` and `meshctl demo`: a refresh loop gathers a window
 * from the chosen source every few seconds (viz/dashboard/snapshot.ts) and feeds it to an ink component
 * that folds it into the model, maps keys to the model's pure functions, and renders for the terminal's
 * size as it changes. Load this module through ./dashboard-loader.ts, never statically: that is
 * where ink is kept from believing it runs in CI.
 */
import { render, useInput, useStdout } from "ink";
import { useEffect, useState } from "react";
import {
  applyKey,
  initialModel,
  isQuitKey,
  keysOf,
  type Snapshot,
  withError,
  withSnapshot,
} from "../../viz/dashboard/model.js";
import { gatherSnapshot } from "../../viz/dashboard/snapshot.js";
import { Dashboard } from "../../viz/dashboard/view.js";
import type { TrafficSplit } from "../../viz/golden.js";
import type { Chosen } from "./source.js";
import { takeScreen } from "./terminal.js";

export const REFRESH_MS = 3000;

type Update = { snapshot: Snapshot } | { error: string };

/** Refreshes, from the loop to whichever component listens. */
export class Feed {
  private readonly listeners = new Set<(u: Update) => void>();

  subscribe(listener: (u: Update) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(update: Update): void {
    for (const l of this.listeners) l(update);
  }
}

/** The terminal's size as it changes; `fixed` overrides it (tests). Ink prints a newline after the last line: one row stays free. */
function useTerminalSize(fixed?: { columns: number; rows: number }): { width: number; height: number } {
  const { stdout } = useStdout();
  const read = () => ({
    columns: fixed?.columns ?? stdout.columns ?? 80,
    rows: fixed?.rows ?? stdout.rows ?? 24,
  });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return;
    const resized = () => setSize(read());
    stdout.on("resize", resized);
    return () => {
      stdout.off("resize", resized);
    };
  });
  return { width: size.columns, height: Math.max(size.rows - 1, 1) };
}

export interface LiveDashboardProps {
  /** The namespace shown first (`-n`); undefined: the first the data names. */
  namespace: string | undefined;
  feed: Feed;
  /** A line above the help line. */
  note?: string;
  onQuit: () => void;
  /** Called with the namespace shown whenever it changes, so the next refresh reads its routes. */
  onNamespace?: (namespace: string | undefined) => void;
  size?: { columns: number; rows: number };
}

export function LiveDashboard({ namespace, feed, note, onQuit, onNamespace, size }: LiveDashboardProps) {
  const [model, setModel] = useState(() => initialModel(namespace));
  useEffect(
    () =>
      feed.subscribe((u) =>
        setModel((m) => ("snapshot" in u ? withSnapshot(m, u.snapshot) : withError(m, u.error))),
      ),
    [feed],
  );
  useEffect(() => {
    onNamespace?.(model.namespace);
  }, [model.namespace, onNamespace]);
  useInput((input, key) => {
    for (const pressed of keysOf({ input, upArrow: key.upArrow, downArrow: key.downArrow, ctrl: key.ctrl })) {
      if (isQuitKey(pressed)) return onQuit();
      setModel((m) => applyKey(m, pressed));
    }
  });
  const { width, height } = useTerminalSize(size);
  return <Dashboard model={model} width={width} height={height} note={note} />;
}

export interface DashboardOptions {
  /** A line above the help line, e.g. where the demo's store is. */
  note?: string;
  /** The TrafficSplits to show, read again at every refresh (from a local store). */
  splits?: () => Promise<TrafficSplit[]>;
  refreshMs?: number;
}

export interface DashboardSession {
  /** Settles when the dashboard has closed (a quit key, or close()) and the terminal is restored. */
  done: Promise<void>;
  /** Closes the dashboard and restores the terminal; resolves with `done`. */
  close(): Promise<void>;
}

/** Takes the terminal over and runs the dashboard until a quit key or close(). */
export function openDashboard(chosen: Chosen, options: DashboardOptions = {}): DashboardSession {
  const restore = takeScreen(process.stdout, process.stdin);
  const feed = new Feed();
  let namespace = chosen.namespace;
  let stopped = false;
  let wake = () => {};
  let app: ReturnType<typeof render>;
  try {
    app = render(
      <LiveDashboard
        namespace={chosen.namespace}
        feed={feed}
        note={options.note}
        onQuit={() => app.unmount()}
        onNamespace={(ns) => {
          namespace = ns;
        }}
      />,
      { exitOnCtrlC: false },
    );
  } catch (err) {
    restore();
    throw err;
  }
  const done = app
    .waitUntilExit()
    .then(() => undefined)
    .finally(() => {
      stopped = true;
      wake();
      restore();
    });
  const refreshMs = options.refreshMs ?? REFRESH_MS;
  void (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        const [source, splits] = await Promise.all([chosen.open("window"), splitsOrProblem(options.splits)]);
        const snapshot = await gatherSnapshot(source, { namespace, splits: splits.splits });
        if (!stopped) feed.publish({ snapshot: { ...snapshot, problem: splits.problem } });
      } catch (err) {
        if (!stopped) feed.publish({ error: (err as Error).message });
      }
      // At most one refresh every few seconds, whichever source answered and however fast.
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.max(refreshMs - (Date.now() - started), 0)).unref();
      });
    }
  })();
  return {
    done,
    close: () => {
      app.unmount();
      return done;
    },
  };
}

/** A store that cannot be read right now (a half-saved edit) costs the splits, not the refresh. */
async function splitsOrProblem(
  load: (() => Promise<TrafficSplit[]>) | undefined,
): Promise<{ splits: TrafficSplit[]; problem?: string }> {
  if (!load) return { splits: [] };
  try {
    return { splits: await load() };
  } catch (err) {
    return { splits: [], problem: `TrafficSplits: ${(err as Error).message}` };
  }
}

/** `meshctl viz dashboard`: the dashboard until a quit key or a signal; the terminal restored either way. */
export async function runDashboard(chosen: Chosen, options: DashboardOptions = {}): Promise<void> {
  const session = openDashboard(chosen, options);
  const stop = () => void session.close();
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, stop);
  try {
    await session.done;
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}
