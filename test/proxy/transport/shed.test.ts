// Shed connections are counted each and logged once per burst: the first at once, then one summary
// line per window while more come, then quiet.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import type { Logger } from "../../../lib/log.js";
import { BurstLog, Shedding } from "../../../proxy/transport/shed.js";
import { until } from "../../support/wait.js";

function fakeLog(): { log: Logger; lines: Array<{ fields: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const log = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) };
  return { log: log as unknown as Logger, lines };
}

test("a burst of events is one line at once and one summary per window, not a line each", async () => {
  const { log, lines } = fakeLog();
  const burst = new BurstLog(log, "connection closed", { listener: "outbound" }, 50);
  for (let i = 0; i < 1000; i++) burst.event({ remote: "127.0.0.1" });
  assert.equal(lines.length, 1, "the first event is logged at once");
  await until("the window's summary", () => lines.length === 2);
  assert.equal(lines[1]?.fields.count, 999);
  // A window without events ends the burst: the next event is logged at once again.
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(lines.length, 2);
  burst.event();
  assert.equal(lines.length, 3);
  burst.close();
});

test("a listener at its maximum closes the next connection on accept and counts it", async (t) => {
  const counted: string[] = [];
  const shedding = new Shedding("outbound", (listener, reason) => counted.push(`${listener}/${reason}`), 50);
  const held: net.Socket[] = [];
  const server = net.createServer((s) => held.push(s));
  shedding.limit(server, 2);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  t.after(() => {
    for (const s of [...clients, ...held]) s.destroy();
    server.close();
    shedding.close();
  });
  for (let i = 0; i < 3; i++) {
    const c = net.connect({ host: "127.0.0.1", port });
    c.on("error", () => {});
    clients.push(c);
    await new Promise((resolve) => c.once("connect", resolve));
    // Accepted in order: the third finds the listener full.
    await until(`connection ${i + 1} accepted or refused`, () => held.length + counted.length === i + 1);
  }
  assert.deepEqual(counted, ["outbound/max_connections"]);
  await until(
    "the refused connection closed",
    () => (clients[2] as net.Socket).destroyed || clients[2]?.readyState === "closed",
  );
});
