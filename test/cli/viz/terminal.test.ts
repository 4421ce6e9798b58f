// The dashboard's terminal: what it says without one, and the alternate screen and its restore (raw
// mode off, cursor shown, main screen back; once, and on exit too).
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireTerminal, takeScreen, terminalProblem } from "../../../cli/viz/terminal.js";

test("without a terminal on stdin or stdout, the dashboard says what to use instead", () => {
  assert.equal(terminalProblem({ isTTY: true }, { isTTY: true }), undefined);
  for (const [stdin, stdout] of [
    [{ isTTY: false }, { isTTY: true }],
    [{ isTTY: true }, {}],
    [{}, {}],
  ] as const) {
    assert.match(
      terminalProblem(stdin, stdout) ?? "",
      /^viz dashboard needs a terminal; in a script, use `meshctl viz stat deploy --demo -o json`/,
    );
    assert.throws(() => requireTerminal(stdin, stdout), { name: "InputError" });
  }
});

test("the screen is taken with the alternate screen and given back once: raw mode off, cursor shown, also on exit", () => {
  const written: string[] = [];
  const modes: boolean[] = [];
  const exitListeners = process.listenerCount("exit");
  const restore = takeScreen(
    { write: (text: string) => written.push(text) },
    { isTTY: true, setRawMode: (raw: boolean) => modes.push(raw) },
  );
  assert.deepEqual(written, ["\x1b[?1049h\x1b[H"]);
  assert.equal(
    process.listenerCount("exit"),
    exitListeners + 1,
    "restores on exit, whatever ends the process",
  );
  restore();
  restore();
  assert.deepEqual(written, ["\x1b[?1049h\x1b[H", "\x1b[?25h\x1b[?1049l"], "once");
  assert.deepEqual(modes, [false]);
  assert.equal(process.listenerCount("exit"), exitListeners);

  // A terminal gone meanwhile: the restore does not throw.
  const gone = takeScreen(
    {
      write: (text: string) => {
        if (text.includes("?1049l")) throw new Error("EIO");
      },
    },
    {
      isTTY: true,
      setRawMode: () => {
        throw new Error("EIO");
      },
    },
  );
  gone();
});
