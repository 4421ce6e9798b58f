/** Rows as `viz` prints them: aligned columns with three spaces between, or JSON. */

export function renderTable(header: readonly string[], cells: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  return [header, ...cells]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

export const pct = (v: number | undefined) => (v === undefined ? "-" : `${(v * 100).toFixed(2)}%`);
export const ms = (v: number | undefined) =>
  v === undefined ? "-" : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`;
export const rps = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(1)}rps`);
export const bytesPerSecond = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(1)}B/s`);
