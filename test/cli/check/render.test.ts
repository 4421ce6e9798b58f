// The outputs as Linkerd's: the table with its glyphs, error and hint lines and status line; short with
// only what is not √; one JSON document whose passing checks carry neither error nor hint.
import assert from "node:assert/strict";
import { test } from "node:test";
import { render, renderJson, renderTable } from "../../../cli/check/render.js";
import type { Report } from "../../../cli/check/types.js";

const REPORT: Report = {
  success: false,
  categories: [
    {
      categoryName: "kubernetes-api",
      checks: [{ description: "can query the Kubernetes API", result: "success" }],
    },
    {
      categoryName: "trellis-identity",
      checks: [
        { description: "trust anchors are within their validity period", result: "success" },
        {
          description: "trust anchors are valid for at least 60 days",
          result: "warning",
          error: "CN=root expires on 2027-01-01T00:00:00.000Z",
          hint: "rotate the trust anchors",
        },
        {
          description: "issuer cert is issued by the trust anchor",
          result: "error",
          error: "not signed:\n  * CN=identity",
          hint: "replace the issuer",
        },
      ],
    },
  ],
};

test("the table: headings underlined, a glyph per check, error and hint indented, a status line", () => {
  assert.equal(
    renderTable(REPORT),
    `kubernetes-api
--------------
√ can query the Kubernetes API

trellis-identity
----------------
√ trust anchors are within their validity period
‼ trust anchors are valid for at least 60 days
    CN=root expires on 2027-01-01T00:00:00.000Z
    hint: rotate the trust anchors
× issuer cert is issued by the trust anchor
    not signed:
      * CN=identity
    hint: replace the issuer

Status check results are ×
`,
  );
});

test("short prints only what is not √, and no heading for a category that all passed", () => {
  const short = render(REPORT, "short");
  assert.doesNotMatch(short, /kubernetes-api|^√/m);
  assert.match(short, /^trellis-identity\n-{16}\n‼ trust anchors are valid/);
  assert.match(short, /\n\nStatus check results are ×\n$/);
});

test("warnings alone still end in √", () => {
  const warned: Report = { success: true, categories: [REPORT.categories[1] as Report["categories"][0]] };
  warned.categories[0] = { ...warned.categories[0]!, checks: warned.categories[0]!.checks.slice(0, 2) };
  assert.match(renderTable(warned), /Status check results are √\n$/);
  assert.equal(renderTable({ success: true, categories: [] }), "Status check results are √\n");
});

test("json: one document in Linkerd's shape", () => {
  const doc = JSON.parse(renderJson(REPORT));
  assert.equal(doc.success, false);
  assert.deepEqual(
    doc.categories.map((c: { categoryName: string }) => c.categoryName),
    ["kubernetes-api", "trellis-identity"],
  );
  assert.deepEqual(doc.categories[0].checks[0], {
    description: "can query the Kubernetes API",
    result: "success",
  });
  assert.deepEqual(doc.categories[1].checks[2], {
    description: "issuer cert is issued by the trust anchor",
    hint: "replace the issuer",
    error: "not signed:\n  * CN=identity",
    result: "error",
  });
  assert.equal(render(REPORT, "json"), renderJson(REPORT));
});
