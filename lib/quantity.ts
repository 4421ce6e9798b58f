/**
 * Kubernetes quantities as the mesh reads them: TrafficSplit weights (SMI v1alpha1 writes them as
 * quantities, `900m`; v1alpha2 as integers), read the same by the destination service and by viz.
 */

/** A Kubernetes quantity (`1`, `0.5`, `900m`, `1k`) in thousandths; undefined when it is not one. */
export function parseQuantityMilli(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?|\.\d+)(m|k|M|G)?$/.exec(v);
  if (!m) return undefined;
  const scale = { m: 1, "": 1000, k: 1e6, M: 1e9, G: 1e12 }[m[2] ?? ""] ?? Number.NaN;
  const milli = Math.round(Number(m[1]) * scale);
  return Number.isFinite(milli) ? milli : undefined;
}
