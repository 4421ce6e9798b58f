/**
 * The HTTP/1.1 relay fuzzed over real loopback sockets, wired as the outbound proxy wires it
 * (Http1Server → exchange → Http1Pool): valid and mutated pipelines sent raw by a client, a raw app
 * recording every byte behind it. What reaches the app must be exactly what the strict reference
 * parser reads in what was sent, re-framed so that it reads back strictly (differential.ts), or
 * nothing when the relay refuses. Fewer runs than the in-memory target: each one is a real exchange,
 * with an app and a relay of its own, so whatever reaches the app came from that run.
 */
import net, { type AddressInfo, type Socket } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { exchange } from "../../proxy/http/exchange.js";
import { Http1Pool } from "../../proxy/http/h1/client.js";
import { Http1Server } from "../../proxy/http/h1/server.js";
import { judge, recordingApp, send } from "./differential.js";
import { pipelineArb } from "./http1.js";
import { asyncBudget, hostile } from "./support.js";

/** The relay in front of `appPort` on a loopback port; `close` ends it and every connection. */
async function relay(appPort: number) {
  const pool = new Http1Pool({
    connect: (onread) => net.connect({ host: "127.0.0.1", port: appPort, onread }),
    readyEvent: "connect",
    target: "app",
    connectTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
  });
  const server = new Http1Server({
    maxHeaderBytes: 16 * 1024,
    headersTimeoutMs: 10_000,
    keepAliveTimeoutMs: 10_000,
    onRequest: (down) => exchange(down, pool.upstream(), { firstByte() {}, end() {} }),
  });
  const sockets = new Set<Socket>();
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    server.accept(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      listener.close();
      server.close();
      pool.close();
    },
  };
}

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
