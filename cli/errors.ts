/**
 * How meshctl fails: a usage error (bad flags or arguments) exits 2, anything else exits 1. Messages
 * name the input and say what to do.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
