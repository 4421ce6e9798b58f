/**
 * How meshctl fails: a usage error (bad flags or arguments) exits 2, an input that cannot be used (a
 * file that is missing, does not parse or fails validation) exits 1, and so does anything else.
 * Messages name the input and say what to do; the entry point prints them as one line, never a stack.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command line was right but what it points at is not usable: exit 1, one line naming the input. */
export class InputError extends Error {
  override name = "InputError";
}

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../lib/exit-codes.js";
