/**
 * The Prometheus text exposition format 0.0.4, written by hand so the sidecar need not load
 * prom-client (with the node:v8 and perf_hooks modules its default metrics pull in: ~1.6 MiB of
 * the proxy's idle RSS). The output is what prom-client's Registry printed for the same metrics,
 * byte for byte: families in registration order, each `# HELP` then `# TYPE` then its samples,
 * families separated by a blank line, a final newline.
 */

/** The content type a scrape gets; Prometheus reads the version to pick its parser. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One metric family: a name, its help text, and the sample lines it writes at scrape time. */
export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  /** Appends the family's sample lines (no HELP or TYPE), each complete, without a newline. */
  writeSamples(out: string[]): void;
  /** Drops the series that have not moved for `retainMs` (a family without labels has none to drop). */
  sweep?(now: number, retainMs: number): void;
}

/** The families of one proxy, in the order they were registered (which is the order they render). */
export class Registry {
  readonly contentType = CONTENT_TYPE;
  private readonly families = new Map<string, Family>();

  register(family: Family): void {
    if (this.families.has(family.name)) {
      throw new Error(`a metric named ${family.name} is already registered`);
    }
    this.families.set(family.name, family);
  }

  /** Drops every family's series that have not moved for `retainMs`; `now` is performance.now(). */
  sweep(now: number, retainMs: number): void {
    for (const family of this.families.values()) family.sweep?.(now, retainMs);
  }

  render(): string {
    const blocks: string[] = [];
    for (const family of this.families.values()) {
      const lines = [
        `# HELP ${family.name} ${escapeHelp(family.help)}`,
        `# TYPE ${family.name} ${family.type}`,
      ];
      family.writeSamples(lines);
      blocks.push(lines.join("\n"));
    }
    return `${blocks.join("\n\n")}\n`;
  }
}

/**
 * A label set as it appears between the braces (`a="1",b="2"`), in the object's own key order.
 * Made once per series, when the series first appears, never per sample or per scrape.
 */
export function labelText(labels: Record<string, string>): string {
  let out = "";
  for (const [name, value] of Object.entries(labels)) {
    out += `${out === "" ? "" : ","}${name}="${escapeLabelValue(value)}"`;
  }
  return out;
}

/** One sample line: `name{labels} value`, or `name value` when there are no labels. */
export function sampleLine(name: string, labels: string, value: number): string {
  return labels === "" ? `${name} ${formatValue(value)}` : `${name}{${labels}} ${formatValue(value)}`;
}

/** Label values escape backslash, double quote and newline (the format's only three escapes). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** HELP text escapes backslash and newline; a double quote stays as it is. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go's ParseFloat spellings: `NaN`, `+Inf`, `-Inf`; finite numbers as JavaScript prints them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
