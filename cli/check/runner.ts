/**
 * Runs categories of checks in order, one check at a time (as linkerd2 `pkg/healthcheck` RunChecks). A
 * retryable check that fails is run again every {@link RETRY_INTERVAL_MS} until it passes or the
 * deadline of `--wait` is reached, then its last failure stands. A check that throws is an error with
 * the thrown message (a bug in a check never becomes a stack trace). Each finished check is reported to
 * `onCheck` as it ends, so the table renderer can print while the run goes on.
 */
import type { Category, CategoryReport, Check, CheckContext, CheckReport, Finding, Report } from "./types.js";

export const RETRY_INTERVAL_MS = 5_000;

export interface RunOptions {
  /** Epoch ms after which retryable checks are no longer retried; no retries when undefined. */
  deadline?: number;
  /** The clock and sleep of retries; real ones by default, tests pass fakes. */
  clock?: { now(): number; sleep(ms: number): Promise<void> };
  retryIntervalMs?: number;
  onCategory?: (name: string) => void;
  onCheck?: (category: string, check: CheckReport) => void;
  /** Called before a retry; the table renderer shows that it waits. */
  onRetry?: (category: string, check: CheckReport) => void;
}

const realClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

export async function runChecks(
  categories: readonly Category[],
  ctx: CheckContext,
  options: RunOptions = {},
): Promise<Report> {
  const clock = options.clock ?? realClock;
  const interval = options.retryIntervalMs ?? RETRY_INTERVAL_MS;
  const report: Report = { success: true, categories: [] };
  for (const category of categories) {
    const out: CategoryReport = { categoryName: category.name, checks: [] };
    let stopRun = false;
    options.onCategory?.(category.name);
    for (const check of category.checks) {
      let finding = await runOne(check, ctx);
      while (
        check.retryable &&
        isError(finding) &&
        options.deadline !== undefined &&
        clock.now() + interval <= options.deadline
      ) {
        options.onRetry?.(category.name, toReport(check, finding, ctx));
        await clock.sleep(interval);
        finding = await runOne(check, ctx);
      }
      if (finding !== undefined && "skip" in finding) continue;
      const line = toReport(check, finding, ctx);
      out.checks.push(line);
      options.onCheck?.(category.name, line);
      if (line.result !== "error") continue;
      report.success = false;
      if (check.fatal === "run") stopRun = true;
      if (check.fatal) break;
    }
    if (out.checks.length > 0) report.categories.push(out);
    if (stopRun) break;
  }
  return report;
}

async function runOne(check: Check, ctx: CheckContext): Promise<Finding> {
  try {
    return await check.run(ctx);
  } catch (err) {
    return { error: (err as Error)?.message ?? String(err) };
  }
}

function isError(f: Finding): boolean {
  return f !== undefined && "error" in f;
}

/** The check's line; `<namespace>` in its hint becomes the control plane's namespace, ready to paste. */
function toReport(check: Check, finding: Finding, ctx: Pick<CheckContext, "namespace">): CheckReport {
  if (finding === undefined || "skip" in finding)
    return { description: check.description, result: "success" };
  const hint = ctx.namespace ? check.hint.replaceAll("<namespace>", ctx.namespace) : check.hint;
  if ("warning" in finding)
    return { description: check.description, result: "warning", error: finding.warning, hint };
  return { description: check.description, result: "error", error: finding.error, hint };
}
