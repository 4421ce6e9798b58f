/**
 * Memory under a server that never grants credit: many mux connections, each holding the most
 * streams a connection carries (MAX_STREAMS), every stream stalled on its spent window with bytes
 * waiting. The client (stalled-client.ts, a process of its own) must hold its resident memory under
 * a fixed ceiling, and forget every stream once the server goes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { INITIAL_WINDOW, MAX_STREAMS } from "../../../../proxy/transport/mux/index.js";
import { until, within } from "../../../support/wait.js";
import { rawServer } from "./support.js";

const CONNS = 8;
/**
 * The client process's resident memory with CONNS × MAX_STREAMS stalled streams stays under this: it
 * counts the allocator's high-water mark from the windows' bytes on their way out, not only what
 * stays held.
 */
const RSS_CEILING_MIB = 288;
/** What the stalled streams keep (JS heap and buffers, after GC) grows by at most this. */
const HELD_CEILING_MIB = 24;

test(`${CONNS} connections of ${MAX_STREAMS} streams stalled on a window never granted: RSS stays under ${RSS_CEILING_MIB} MiB, and every stream is forgotten when the server goes`, async (t) => {
  const server = await rawServer(t);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--expose-gc", fileURLToPath(new URL("stalled-client.ts", import.meta.url))],
    {
      env: { ...process.env, PORT: String(server.port), CONNS: String(CONNS) },
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  t.after(() => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await within("the client's answer", lines.next())).value as string);
  assert.deepEqual(await next(), { started: CONNS * MAX_STREAMS });

  // Every stream has sent its window and waits: the server read it all and granted nothing.
  const want = CONNS * MAX_STREAMS * INITIAL_WINDOW;
  const read = () => server.conns.reduce((n, c) => n + c.dataBytes, 0);
  await until(`${want} bytes of DATA to arrive`, () => read() === want, 60_000);
  child.stdin.write("measure\n");
  const loaded = await next();
  assert.equal(loaded.open, CONNS * MAX_STREAMS, "every stream is still open, stalled");
  const mib = (n: number) => n / 2 ** 20;
  const { baseline, loaded: now } = loaded;
  const held = mib(now.heapUsed + now.arrayBuffers - baseline.heapUsed - baseline.arrayBuffers);
  t.diagnostic(
    `RSS ${mib(baseline.rss).toFixed(0)} MiB before, ${mib(now.rss).toFixed(0)} MiB with ${CONNS * MAX_STREAMS} stalled streams; held heap and buffers grew by ${held.toFixed(1)} MiB`,
  );
  assert.ok(mib(now.rss) < RSS_CEILING_MIB, `RSS ${mib(now.rss).toFixed(1)} MiB`);
  assert.ok(held < HELD_CEILING_MIB, `the stalled streams hold ${held.toFixed(1)} MiB`);
  assert.equal(read(), want, "nothing was sent past the window");

  for (const c of server.conns) c.socket.destroy();
  child.stdin.write("closed\n");
  const after = await next();
  assert.equal(after.mapped, 0, "every connection forgot its streams");
  assert.equal(after.open, 0, "every stream closed");
  child.stdin.end();
  await once(child, "exit");
});
