// How meshctl demo shows the mesh: the dashboard only where it can read keys and draw, tables
// otherwise with the reason, JSON lines when headless; and its description of the traffic fits 80 columns.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseView, describe } from "../../../cli/demo/run.js";
import { bookshelf } from "../../../cli/demo/topology.js";

test("the dashboard needs a terminal on stdin and stdout and no -v; headless wins over everything", () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  const opts = { headless: false, verbose: false };
  assert.deepEqual(chooseView(opts, tty, tty), { view: "dashboard" });
  assert.deepEqual(chooseView({ ...opts, headless: true }, tty, tty), { view: "headless" });
  assert.deepEqual(chooseView(opts, tty, pipe), { view: "tables", why: "stdout is not a terminal" });
  assert.match(chooseView(opts, pipe, tty).why ?? "", /stdin is not a terminal/);
  assert.match(chooseView({ ...opts, verbose: true }, tty, tty).why ?? "", /-v: the logs would draw over/);
});

test("the demo says what its traffic shows, in lines that fit 80 columns", () => {
  const lines = describe(bookshelf());
  assert.deepEqual(lines.slice(1), [
    "The mesh is up, every hop over mTLS: traffic → web → books, authors.",
    "- books: a TrafficSplit sends 10 % to the books-v2 canary, which fails 5 %.",
    "- authors: GET /authors fails 20 %; its ServiceProfile marks it retryable.",
  ]);
  for (const line of lines) assert.ok(Array.from(line).length <= 80, line);
});
