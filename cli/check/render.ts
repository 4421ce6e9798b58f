/**
 * The report as text, in Linkerd's shape: each category's name underlined with dashes, a `√`, `‼` or
 * `×` line per check, under a warning or failure its error and hint indented four spaces, and a status
 * line; `short` prints only what is not `√` (and the status line); `json` one document. The table is
 * written as the run goes ({@link TablePrinter}), so a long `--wait` shows what has passed so far.
 */
import type { CategoryReport, CheckReport, Report } from "./types.js";

export type CheckOutput = "table" | "short" | "json";
export const CHECK_OUTPUTS: readonly CheckOutput[] = ["table", "short", "json"];

const GLYPH = { success: "√", warning: "‼", error: "×" } as const;

/** The heading of a category: its name, then dashes as long. */
export function renderCategoryHeading(name: string): string {
  return `${name}\n${"-".repeat(name.length)}\n`;
}

/** One check's lines. */
export function renderCheck(check: CheckReport): string {
  let text = `${GLYPH[check.result]} ${check.description}\n`;
  if (check.result !== "success") {
    if (check.error) text += `${indent(check.error)}\n`;
    if (check.hint) text += `    hint: ${check.hint}\n`;
  }
  return text;
}

/** The closing line: √ when nothing failed, warnings allowed. */
export function renderStatus(report: Report): string {
  return `Status check results are ${report.success ? "√" : "×"}\n`;
}

/**
 * Writes the table one check at a time: a category's heading before its first printed check, a blank
 * line between categories and before the status line.
 */
export class TablePrinter {
  private printedCategory: string | undefined;
  private printedAny = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly short = false,
  ) {}

  check(category: string, check: CheckReport): void {
    if (this.short && check.result === "success") return;
    if (this.printedCategory !== category) {
      this.write(`${this.printedAny ? "\n" : ""}${renderCategoryHeading(category)}`);
      this.printedCategory = category;
      this.printedAny = true;
    }
    this.write(renderCheck(check));
  }

  end(report: Report): void {
    this.write(`${this.printedAny ? "\n" : ""}${renderStatus(report)}`);
  }
}

export function renderTable(report: Report, short = false): string {
  let text = "";
  const printer = new TablePrinter((t) => {
    text += t;
  }, short);
  for (const category of report.categories)
    for (const check of category.checks) printer.check(category.categoryName, check);
  printer.end(report);
  return text;
}

/** One JSON document; `error` and `hint` only where a check did not pass, as Linkerd's. */
export function renderJson(report: Report): string {
  const categories: CategoryReport[] = report.categories.map((c) => ({
    categoryName: c.categoryName,
    checks: c.checks.map((k) => ({
      description: k.description,
      ...(k.hint !== undefined ? { hint: k.hint } : {}),
      ...(k.error !== undefined ? { error: k.error } : {}),
      result: k.result,
    })),
  }));
  return `${JSON.stringify({ success: report.success, categories }, null, 2)}\n`;
}

export function render(report: Report, output: CheckOutput): string {
  if (output === "json") return renderJson(report);
  return renderTable(report, output === "short");
}

/** Every line of a multi-line error indented four spaces. */
function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}
