/**
 * The client half of the stalled-streams memory test, run in a process of its own so its resident
 * memory is the mux client's alone: CONNS connections (one MuxClient per peer, as the proxy keeps one
 * per peer) to the raw server on PORT, each with MAX_STREAMS streams that write their whole window
 * and one byte more, which waits for credit the server never grants. Lines on stdin drive it
 * ("measure", "close"), one JSON line on stdout answers each.
 */
import net from "node:net";
import { createInterface } from "node:readline";
import {
  INITIAL_WINDOW,
  MAX_STREAMS,
  MuxClient,
  type MuxConnection,
  type MuxStream,
} from "../../../../proxy/transport/mux/index.js";

const port = Number(process.env.PORT);
const conns = Number(process.env.CONNS);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Memory once what is garbage was collected (external buffers are freed a turn after the heap's GC). */
const memory = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
};
const baseline = await memory();
const streams: MuxStream[] = [];
const errors = new Map<string, number>();
for (let c = 0; c < conns; c++) {
  let socket: net.Socket | undefined;
  const client = new MuxClient({
    dial: (reads) => {
      socket = net.connect({ host: "127.0.0.1", port, onread: reads });
      return socket;
    },
    readyEvent: "connect",
    target: `127.0.0.1:${port}`,
    connectTimeoutMs: 30_000,
    idleTimeoutMs: 600_000,
  });
  for (let i = 0; i < MAX_STREAMS; i++) {
    const s = client.open();
    s.on("error", (err: Error) => errors.set(err.message, (errors.get(err.message) ?? 0) + 1));
    // As an HTTP/1.1 relay writes a body: a chunk of its own, and it waits once write() says so.
    s.write(Buffer.alloc(INITIAL_WINDOW, 0x61));
    s.write("x");
    streams.push(s);
  }
  // One connection's window at a time leaves the process before the next is opened, as connections
  // to many peers fill over time; all at once, the process would hold every window in its send buffers.
  const deadline = Date.now() + 30_000;
  while ((socket?.connecting || (socket?.writableLength ?? 0) > 0) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
}
const open = () => streams.reduce((n, s) => n + Number(!s.destroyed), 0);
const mapped = () =>
  [...new Set(streams.map((s) => s.conn as MuxConnection))].reduce((n, c) => n + c.streams.size, 0);

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
say({ started: streams.length });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "measure") say({ baseline, loaded: await memory(), open: open(), mapped: mapped() });
  if (line === "closed") {
    const deadline = Date.now() + 20_000;
    while (mapped() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    say({ open: open(), mapped: mapped(), errors: Object.fromEntries(errors), after: await memory() });
    break;
  }
}
