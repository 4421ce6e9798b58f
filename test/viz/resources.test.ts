import assert from "node:assert/strict";
import { test } from "node:test";
import { parseResource } from "../../viz/resources.js";

test("resources: short and long kinds, with or without a name; anything else says what is expected", () => {
  assert.deepEqual(parseResource("deploy/web"), { kind: "deployment", name: "web" });
  assert.deepEqual(parseResource("ns"), { kind: "namespace" });
  assert.deepEqual(parseResource("TrafficSplit/books-canary"), {
    kind: "trafficsplit",
    name: "books-canary",
  });
  assert.deepEqual(parseResource("svc/books"), { kind: "service", name: "books" });
  assert.match(
    (parseResource("widgets") as { error: string }).error,
    /unknown resource kind "widgets" \(expected one of deploy/,
  );
  assert.match((parseResource("deploy/a/b") as { error: string }).error, /not KIND or KIND\/NAME/);
});
