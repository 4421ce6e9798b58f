// The webhook's JSONPatch: applied to the original pod, the operations give the injected pod.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { inject, jsonPatch } from "../../../control/injector/index.js";
import { defaultInjectorConfig } from "../../support/install.js";
import { applyPatch as apply } from "../../support/json-patch.js";

test("the patch from a pod to its injected form gives the injected pod; equal pods give no patch", () => {
  const config = defaultInjectorConfig();
  const text = readFileSync(new URL("../../fixtures/inject/kinds.yaml", import.meta.url), "utf8");
  const pods = parseAllDocuments(text)
    .map((d) => d.toJS() as { kind: string })
    .filter((o) => o.kind === "Pod");
  assert.equal(pods.length, 1);
  for (const manual of [true, false]) {
    const before = pods[0];
    const after = inject(before, config, { manual, controlPlaneNamespace: "trellis" }).object;
    const ops = jsonPatch(before, after);
    assert.ok(ops.length > 0);
    assert.deepEqual(apply(before, ops), after);
    assert.deepEqual(jsonPatch(after, after), []);
  }
  // Annotation keys hold a slash: escaped as ~1 in the pointer.
  assert.deepEqual(jsonPatch({ a: {} }, { a: { "trellis.dev/inject": "enabled" } }), [
    { op: "add", path: "/a/trellis.dev~1inject", value: "enabled" },
  ]);
});
