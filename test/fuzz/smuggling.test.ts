/**
 * Differential HTTP through a real proxy pair (app client → outbound proxy → mTLS mux → inbound proxy
 * → app): each request smuggling vector of corpus/smuggling/ is sent as raw bytes, and an app that
 * is a raw socket server records the exact bytes it gets. For each vector, either the proxy refuses it
 * (its own 4xx/5xx, or a cut connection, and no request of it reaches the app), or the app receives
 * exactly the requests the strict reference parser (http1.ts) reads in the bytes sent, re-framed so
 * that the same reference reads them back with nothing left over: one request per request, the same
 * method, target and body bytes, nothing smuggled into a body or out of one.
 *
 * Each vector names its own authority (`web` in the corpus becomes `wNN`, the same length, so no
 * length in a vector changes), which is how the app's requests are told apart.
 */
import { test } from "node:test";
import { meshedDestination, startMesh } from "../support/mesh.js";
import { judge, recordingApp, send } from "./differential.js";
import { corpus } from "./support.js";

test("request smuggling vectors through a real proxy pair: refused, or reaching the app exactly as parsed", async (t) => {
  const vectors = corpus("smuggling").map(({ name, bytes }, i) => {
    const authority = `w${String(i).padStart(2, "0")}`;
    return {
      name,
      authority,
      bytes: Buffer.from(bytes.toString("latin1").replaceAll("web", authority), "latin1"),
    };
  });
  const mesh = await startMesh(t);
  const app = await recordingApp();
  t.after(() => app.close());
  const server = await mesh.proxy("server", { inboundPorts: [app.port] });
  const client = await mesh.proxy("client", {
    destinations: vectors.map((v) => meshedDestination(`${v.authority}:80`, app.port, server)),
  });

  const sent = [];
  for (const v of vectors) sent.push({ ...v, answer: await send(client.outbound, v.bytes) });
  const outcomes = await judge(app, sent);
  const table = outcomes.map(
    (o) =>
      `${o.name}: ${o.reached.length ? `${o.reached.length} reached (${o.reached.map((r) => `${r.method} ${r.target} ${r.body.length}B`).join(", ")})` : "refused"} answers ${o.statuses.join(",") || "none (cut)"}`,
  );
  t.diagnostic(table.join("\n"));
});
