// TrafficSplits read from a local store: every YAML file, every document in it; other kinds and
// splits without an apex Service are passed over; a store that cannot be read is named.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { InputError } from "../../../cli/errors.js";
import { loadSplits } from "../../../cli/viz/source.js";

test("a store's TrafficSplits, with their weights (integers or quantities); other documents and splits without an apex are passed over", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "trellis-store-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, "books.yaml"),
    `apiVersion: local.trellis.dev/v1
kind: Service
metadata: { name: books, namespace: shop }
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: books-canary, namespace: shop }
spec:
  service: books
  backends:
    - { service: books-v1, weight: 90 }
    - { service: books-v2, weight: "10" }
---
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: { name: search-canary, namespace: shop }
spec:
  service: search
  backends:
    - { service: search-v1, weight: 1 }
    - { service: search-v2, weight: 500m }
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: no-apex }
spec: { backends: [{ service: x, weight: 1 }] }
`,
  );
  await writeFile(join(dir, "notes.txt"), "kind: TrafficSplit\n");
  const splits = await loadSplits({ demo: false, store: dir } as Parameters<typeof loadSplits>[0], undefined);
  assert.deepEqual(splits, [
    {
      name: "books-canary",
      namespace: "shop",
      apex: "books",
      backends: [
        { service: "books-v1", weight: 90 },
        { service: "books-v2", weight: 10 },
      ],
    },
    {
      name: "search-canary",
      namespace: "shop",
      apex: "search",
      // v1alpha1 quantities: 500m is half of 1, not 500 times it.
      backends: [
        { service: "search-v1", weight: 1 },
        { service: "search-v2", weight: 0.5 },
      ],
    },
  ]);
  await assert.rejects(
    loadSplits({ demo: false, store: join(dir, "missing") } as Parameters<typeof loadSplits>[0], undefined),
    (err: Error) => err instanceof InputError && err.message.includes(join(dir, "missing")),
  );
});
