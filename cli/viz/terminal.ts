/**
 * The terminal the dashboard draws on, without loading ink: whether there is one (and what to use
 * instead), and taking the screen over (the alternate screen) with a restore that also runs when the
 * process exits some other way: raw mode off, the cursor shown, the main screen and its scrollback back.
 * ./dashboard-loader.ts loads the dashboard so that ink draws interactively on a terminal.
 */
import { InputError } from "../errors.js";

interface Tty {
  isTTY?: boolean;
}

/** Why the dashboard cannot run on these streams, or undefined when it can. */
export function terminalProblem(stdin: Tty, stdout: Tty): string | undefined {
  if (stdout.isTTY && stdin.isTTY) return undefined;
  return "viz dashboard needs a terminal; in a script, use `meshctl viz stat deploy --demo -o json` (or --prometheus-url)";
}

/** Throws the one-line InputError (exit 1) when stdin or stdout is not a terminal. */
export function requireTerminal(stdin: Tty = process.stdin, stdout: Tty = process.stdout): void {
  const problem = terminalProblem(stdin, stdout);
  if (problem) throw new InputError(problem);
}

/** The alternate screen (the user's scrollback stays untouched), cursor at the top left. */
const ENTER = "\x1b[?1049h\x1b[H";
/** The cursor shown, the main screen back as it was. */
const LEAVE = "\x1b[?25h\x1b[?1049l";

interface Screen {
  write(text: string): unknown;
}

interface Keyboard extends Tty {
  setRawMode?(raw: boolean): unknown;
}

/**
 * Switches to the alternate screen and returns the restore, which is idempotent and also runs on the
 * process's `exit` (an uncaught error, `process.exit` elsewhere). Ink hides the cursor and sets raw
 * mode while it runs and undoes both when it unmounts; the restore undoes them again in case it did not.
 */
export function takeScreen(stdout: Screen, stdin: Keyboard): () => void {
  stdout.write(ENTER);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off("exit", restore);
    try {
      if (stdin.isTTY) stdin.setRawMode?.(false);
    } catch {
      // A terminal that went away has no mode left to restore.
    }
    try {
      stdout.write(LEAVE);
    } catch {
      // Likewise.
    }
  };
  process.on("exit", restore);
  return restore;
}
