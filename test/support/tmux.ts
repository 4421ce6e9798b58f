/**
 * A real terminal for tests: a tmux server of the test's own (its own socket) with one pane of a
 * given size running a shell script; the test reads the pane, sends keys, and asks tmux whether the
 * pane is on the alternate screen and shows its cursor. The server is killed when the test ends.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Pane {
  /** The visible screen, one line per row (trailing blanks trimmed by tmux). */
  capture(): Promise<string>;
  /** The first screen matching `re` within `ms`; fails with the last screen. */
  waitFor(re: RegExp, what: string, ms?: number): Promise<string>;
  /** tmux key names (`q`, `Down`, `C-c`). */
  keys(...keys: string[]): Promise<void>;
  /** Whether the pane is on the alternate screen and its cursor is shown. */
  state(): Promise<{ alternateScreen: boolean; cursorShown: boolean }>;
}

/**
 * Starts `script` (shell lines) in a `columns`×`rows` pane. The script should end with a long `sleep`,
 * so the pane stays readable after what it runs has exited.
 */
export async function startPane(
  t: TestContext,
  dir: string,
  script: string,
  size = { columns: 80, rows: 24 },
): Promise<Pane> {
  const socket = join(dir, "tmux.sock");
  const tmux = (...args: string[]) => run("tmux", ["-S", socket, ...args]);
  t.after(() => tmux("kill-server").catch(() => undefined));
  const path = join(dir, "pane.sh");
  await writeFile(path, script);
  await tmux(
    "new-session",
    "-d",
    "-x",
    String(size.columns),
    "-y",
    String(size.rows),
    "-s",
    "test",
    `sh ${path}`,
  );
  const capture = async () => (await tmux("capture-pane", "-p", "-t", "test")).stdout;
  return {
    capture,
    async waitFor(re, what, ms = 30_000) {
      const deadline = Date.now() + ms;
      let text = "";
      while (Date.now() < deadline) {
        text = await capture();
        if (re.test(text)) return text;
        await sleep(250);
      }
      return assert.fail(`${what} did not show within ${ms / 1000} s:\n${text}`);
    },
    async keys(...keys) {
      await tmux("send-keys", "-t", "test", ...keys);
    },
    async state() {
      const { stdout } = await tmux("display-message", "-p", "-t", "test", "#{alternate_on} #{cursor_flag}");
      const [alternate, cursor] = stdout.trim().split(" ");
      return { alternateScreen: alternate === "1", cursorShown: cursor === "1" };
    },
  };
}

/** A shell line printing the terminal's `icanon` and `echo` modes, as `terminal: icanon echo` when restored. */
export const PRINT_TERMINAL_MODES = `echo "terminal: $(stty -a | grep -o -w -e '-\\?icanon' -e '-\\?echo' | tr '\\n' ' ')"`;

/** Asserts every line of a screen fits `columns` and there are at most `rows` of them. */
export function assertFits(screen: string, columns = 80, rows = 24): void {
  const lines = screen.replace(/\n+$/, "").split("\n");
  assert.ok(lines.length <= rows, `${lines.length} lines`);
  for (const line of lines) assert.ok(Array.from(line).length <= columns, `over ${columns} columns: ${line}`);
}
