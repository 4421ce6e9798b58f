/**
 * What injection says about each object, and how the CLI prints it (as Linkerd's inject does): the
 * warnings first, each with `‼`, then one line per object. The webhook turns the same reports into
 * Events, so a reason reads as a sentence on its own.
 */

export type Status = "injected" | "annotated" | "skipped" | "uninjected" | "refused";

/** One object's outcome. */
export interface ObjectReport {
  /** `deployment/web`. */
  object: string;
  kind: string;
  name: string;
  status: Status;
  /** Why it was skipped or refused. */
  reason?: string;
  /** What the user should know, without stopping injection. */
  warnings: string[];
}

/** The stderr report: warnings, a blank line, one line per object, a blank line. */
export function renderReport(reports: ObjectReport[]): string {
  const warnings = reports.flatMap((r) => r.warnings.map((w) => `‼ ${r.object}: ${w}`));
  if (!reports.some((r) => r.status !== "skipped")) warnings.push("‼ no supported objects found");
  const lines = reports.map((r) => {
    const who = `${r.kind.toLowerCase()} "${r.name}"`;
    return r.status === "skipped" && r.reason ? `${who} skipped: ${r.reason}` : `${who} ${r.status}`;
  });
  return `${warnings.length > 0 ? `\n${warnings.join("\n")}\n` : ""}\n${lines.join("\n")}\n\n`;
}

/** The refusals, one line each, for an error that stops the run. */
export function refusals(reports: ObjectReport[]): string[] {
  return reports.filter((r) => r.status === "refused").map((r) => `${r.object}: ${r.reason}`);
}
