/**
 * A run as a command prints it, whichever categories it checks (`meshctl check`, `meshctl viz
 * check`): the table as the run goes (`-o short` only what is not √), or one JSON document at the
 * end; under `--wait` one line on stderr per check waited for, so stdout stays the report.
 */
import { type CheckOutput, renderJson, TablePrinter } from "./render.js";
import { runChecks } from "./runner.js";
import type { Category, CheckContext, Report } from "./types.js";

export interface PrintOptions {
  output: CheckOutput;
  /** Milliseconds retryable checks are retried for; 0 runs each once. */
  waitMs: number;
  /** Where the report goes (stdout). */
  write: (text: string) => void;
  /** Where the waiting lines go (stderr). */
  note: (text: string) => void;
}

export async function runAndPrint(
  categories: readonly Category[],
  ctx: CheckContext,
  options: PrintOptions,
): Promise<Report> {
  const table =
    options.output === "json" ? undefined : new TablePrinter(options.write, options.output === "short");
  const waiting = new Set<string>();
  const report = await runChecks(categories, ctx, {
    ...(options.waitMs > 0 ? { deadline: Date.now() + options.waitMs } : {}),
    onCheck: (category, check) => table?.check(category, check),
    onRetry: (_category, check) => {
      if (waiting.has(check.description)) return;
      waiting.add(check.description);
      const why = (check.error ?? "").replace(/\s*\n\s*/g, " ").slice(0, 200);
      options.note(`waiting: ${check.description}${why ? ` (${why})` : ""}\n`);
    },
  });
  if (table) table.end(report);
  else options.write(renderJson(report));
  return report;
}
