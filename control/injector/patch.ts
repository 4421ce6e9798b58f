/**
 * The JSONPatch (RFC 6902) from an object to its injected form, as an admission webhook answers
 * with: `inject` gives the new pod, this gives the operations that turn the old one into it. Maps
 * are diffed key by key; a changed array is replaced whole, which keeps the patch valid whatever
 * the API server's view of the array's order.
 */

/** One RFC 6902 operation. */
export type PatchOperation =
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON Pointer token: `~` and `/` escaped (annotation keys hold slashes). */
function token(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The operations that turn `before` into `after`; empty when they are equal. */
export function jsonPatch(before: unknown, after: unknown, path = ""): PatchOperation[] {
  if (isMap(before) && isMap(after)) {
    const ops: PatchOperation[] = [];
    for (const key of Object.keys(before))
      if (!(key in after)) ops.push({ op: "remove", path: `${path}/${token(key)}` });
    for (const [key, value] of Object.entries(after)) {
      const at = `${path}/${token(key)}`;
      if (!(key in before)) ops.push({ op: "add", path: at, value });
      else ops.push(...jsonPatch(before[key], value, at));
    }
    return ops;
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ op: "replace", path, value: after }];
}
