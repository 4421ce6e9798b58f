/**
 * Fuzzing the HTTP/1.1 relay's request parsing (proxy/http/h1: llhttp driven by server.ts, framing in
 * server-exchange.ts): head, Content-Length, chunked bodies with extensions and trailers, Upgrade,
 * pipelining. The relay is judged against the strict reference parser of http1.ts:
 *
 * - valid requests, split at any byte, are handed on exactly (method, target, headers, body bytes);
 * - whatever it reads, every request it hands on is one the reference parses the same way, in the same
 *   position: it never accepts what it should refuse, and never sees a request where there is none;
 * - its own code never throws, and a bad input ends with a refusal or a cut connection.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { handedFor, type Served, serve } from "./h1-conn.js";
import { type Parsed, parseRequests, pipelineArb, type Request } from "./http1.js";
import { asyncBudget, corpus, cuts, everySplit, hostile, splitAt } from "./support.js";

/** Every request the relay handed on is the reference's request at that position. */
function sound(served: Served, ref: Parsed, what: string): void {
  assert.equal(served.thrown, undefined, `${what}: the relay threw`);
  assert.ok(
    served.requests.length <= ref.requests.filter((r) => !r.upgrade).length,
    `${what}: the relay handed on ${served.requests.length} requests, the reference parses ${ref.requests.length}${ref.error ? ` (then: ${ref.error})` : ""}`,
  );
  served.requests.forEach((got, i) => {
    const want = ref.requests[i] as Request;
    const { complete: _, ...handed } = got;
    assert.deepEqual(handed, handedFor(want), `${what}: request ${i + 1}`);
  });
  if (served.upgrade) {
    const want = ref.requests[served.requests.length];
    assert.ok(want?.upgrade, `${what}: the relay upgraded where the reference sees no upgrade`);
    assert.equal(served.upgrade.method, want.method);
    assert.equal(served.upgrade.url, want.target);
    assert.deepEqual(served.upgrade.rest, ref.rest, `${what}: the bytes after the upgrade's head`);
  }
}

test("valid pipelined requests, split anywhere, are handed on exactly", async (t) => {
  await fc.assert(
    fc.asyncProperty(pipelineArb, cuts(600), async ({ wire, expect }, offsets) => {
      const ref = parseRequests(wire);
      assert.equal(ref.error, undefined, "the reference reads what the generator writes");
      assert.deepEqual(ref.requests, expect);
      const served = await serve(splitAt(wire, offsets));
      sound(served, ref, "valid");
      assert.equal(served.requests.length, expect.length, `refused ${served.refused}, cut ${served.cut}`);
      assert.equal(served.refused, undefined);
      assert.equal(served.cut, false);
    }),
    asyncBudget(t, 150),
  );
});

test("mutated and random requests: whatever the relay hands on, the reference parses the same", async (t) => {
  const input = hostile(
    pipelineArb.map((p) => p.wire),
    200,
  );
  await fc.assert(
    fc.asyncProperty(input, cuts(600), async (bytes, offsets) => {
      const ref = parseRequests(bytes);
      sound(await serve([bytes]), ref, "whole");
      sound(await serve(splitAt(bytes, offsets)), ref, "split");
    }),
    asyncBudget(t, 300),
  );
});

test("h1 and smuggling corpora: every saved input, whole and split at every byte, handed on only as the reference parses it", async () => {
  for (const { name, bytes } of [...corpus("h1"), ...corpus("smuggling")]) {
    const ref = parseRequests(bytes);
    for (const pieces of everySplit(bytes, 24)) sound(await serve(pieces), ref, name);
  }
});

test("the relay's parser stays strict when node runs with --insecure-http-parser", async () => {
  // node:http reads that flag itself; the relay gives llhttp no lenient flags whatever it says.
  const script = `
    import { Http1Parser } from "./proxy/http/h1/parser.ts";
    const out = [];
    for (const v of ${JSON.stringify([
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\u0001b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    ])}) {
      const p = new Http1Parser("request", 16384, { head: () => 0, body() {}, end() {} });
      out.push(p.execute(Buffer.from(v, "latin1")) instanceof Error);
    }
    console.log(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--insecure-http-parser", "--import", "tsx", "--input-type=module", "-e", script],
    { cwd: fileURLToPath(new URL("../..", import.meta.url)) },
  );
  assert.deepEqual(JSON.parse(stdout), [true, true, true, true], "each lenient-only input refused");
});
