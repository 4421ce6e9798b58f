/**
 * The HTTP/1.1 relay fuzzed over real loopback sockets, wired as the outbound proxy wires it
 * (Http1Server → exchange → Http1Pool): valid and mutated pipelines sent raw by a client, a raw app
 * recording every byte behind it. What reaches the app must be exactly what the strict reference
 * parser reads in what was sent, re-framed so that it reads back strictly (differential.ts), or
 * nothing when the relay refuses. Fewer runs than the in-memory target: each one is a real exchange,
 * with an app and a relay of its own, so whatever reaches the app came from that run.
 */
import { test } from "node:test";
import fc from "fast-check";
import { judge, recordingApp, relay, send } from "./differential.js";
import { pipelineArb } from "./http1.js";
import { asyncBudget, hostile } from "./support.js";

test("pipelines over real sockets: the app gets exactly the requests the relay parsed, or none", async (t) => {
  const input = hostile(
    pipelineArb.map((p) => p.wire),
    200,
  );
  let n = 0;
  await fc.assert(
    fc.asyncProperty(input, async (bytes) => {
      const app = await recordingApp();
      const proxy = await relay(app.port);
      try {
        const answer = await send(`127.0.0.1:${proxy.port}`, bytes);
        await judge(app, [{ name: `run ${++n}`, authority: "", bytes, answer }]);
      } finally {
        proxy.close();
        app.close();
      }
    }),
    asyncBudget(t, 60),
  );
});
