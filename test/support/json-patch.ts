/** Applying the injector's JSONPatch in tests, as the API server does with a webhook's answer. */
import type { PatchOperation } from "../../control/injector/index.js";

/** A minimal RFC 6902 applier for the three operations jsonPatch emits. */
export function applyPatch(doc: unknown, ops: readonly PatchOperation[]): unknown {
  const root = { doc: structuredClone(doc) } as Record<string, unknown>;
  for (const op of ops) {
    const tokens = [
      "doc",
      ...op.path
        .split("/")
        .slice(1)
        .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~")),
    ];
    const last = tokens.pop() as string;
    let parent = root as Record<string, unknown>;
    for (const t of tokens) parent = parent[t] as Record<string, unknown>;
    if (op.op === "remove") delete parent[last];
    else parent[last] = structuredClone(op.value);
  }
  return root.doc;
}
