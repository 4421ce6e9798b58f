/**
 * How meshctl fails: a usage error (bad flags or arguments) exits 2, anything else exits 1. Messages
 * name the input and say what to do.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../lib/exit-codes.js";
