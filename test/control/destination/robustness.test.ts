// A stream whose client stops reading is closed and counted, and the others keep going; garbage on the
// gRPC port (undecodable requests, oversized ones, unknown methods, raw bytes, HTTP/1.1) gets an error
// and the service keeps serving.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { type TestContext, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { DestinationClient } from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { clusterState, type Endpoint, type Service } from "../../../control/destination/model.js";
import { startDestinationService } from "../../../control/destination/server.js";
import { MemorySource } from "../../../control/destination/source.js";
import { addrsOf, adminGet, get, memoryLogger, Recorder, sample } from "./harness.js";

function service(generation: number, count: number): Service {
  const endpoints: Endpoint[] = [];
  for (let i = 0; i < count; i++)
    endpoints.push({
      ip: `10.${(i >> 8) & 255}.${i & 255}.1`,
      ready: true,
      meshed: true,
      serviceAccount: "web",
      pod: `web-${generation}-${"x".repeat(60)}-${i}`,
      owner: { kind: "deployment", name: "web" },
      weight: 10_000,
      inboundPort: 4143,
      labels: { generation: String(generation) },
    });
  return { namespace: "shop", name: "web", ports: [], endpoints };
}

async function start(t: TestContext, capacity: number) {
  const source = new MemorySource(clusterState([service(0, 300)], [], []));
  const log = memoryLogger();
  const running = await startDestinationService({
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    source,
    clusterDomain: "cluster.local",
    trustDomain: "cluster.local",
    streamQueueCapacity: capacity,
    log: log.log,
  });
  t.after(() => running.shutdown());
  // Each client on its own connection, so one that stops reading holds up no other.
  const client = () => {
    const c = new DestinationClient(running.listen, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
    });
    t.after(() => c.close());
    return c;
  };
  return { source, running, client, log };
}

test("a stream whose client stops reading is reset with RESOURCE_EXHAUSTED and counted; a reading stream gets every change", async (t) => {
  const { source, running, client, log } = await start(t, 4);
  const slowCall = client().get({ authority: "web.shop:80", contextNamespace: "" });
  const slow = new Recorder(slowCall);
  t.after(() => slow.cancel());
  await slow.next();
  slowCall.pause();
  const fast = get(t, client(), "web.shop:80");
  await fast.next();

  // Every generation relabels all 300 endpoints: one ~40 KB add per change, far beyond the HTTP/2
  // window of a client that does not read.
  let generation = 0;
  const ended = slow.status();
  let outcome: { code: grpc.status; details: string } | undefined;
  void ended.then((s) => {
    outcome = s;
  });
  while (!outcome && generation < 2_000) {
    generation++;
    source.set(clusterState([service(generation, 300)], [], []));
    // The reading client keeps up: the next change comes once it has this one.
    const g = String(generation);
    await fast.next(
      (m) => m.update?.$case === "add" && m.update.value.addrs[0]?.metricLabels.generation === g,
    );
  }
  const status = await ended;
  assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
  // The reading stream got every change, whole.
  assert.equal(fast.messages.length, generation + 1);
  assert.ok(fast.messages.every((m) => m.update?.$case === "add" && m.update.value.addrs.length === 300));

  const metrics = (await adminGet(running.admin, "/metrics")).body;
  assert.equal(sample(metrics, "destination_stream_overflows_total", 'rpc="Get"'), 1);
  assert.equal(sample(metrics, "destination_streams", 'rpc="Get"'), 1);
  assert.ok(log.lines().some((l) => String(l.msg).startsWith("TRELLIS_E_DESTINATION_STREAM_OVERFLOW")));
  // A reconnecting client starts from the full current state.
  const again = get(t, client(), "web.shop:80");
  assert.equal(addrsOf(await again.next()).length, 300);
});

test("undecodable, oversized and unknown requests get an error status; the service keeps serving", async (t) => {
  const { client, running } = await start(t, 100);
  const c = client();
  const raw = (path: string, body: Buffer) =>
    new Recorder<Buffer>(
      c.makeServerStreamRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
      ),
    ).status();
  const garbage = await raw(
    "/trellis.destination.v1.Destination/Get",
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
  );
  assert.notEqual(garbage.code, grpc.status.OK);
  const profileGarbage = await raw(
    "/trellis.destination.v1.Destination/GetProfile",
    Buffer.from("\x0a\xff\xff"),
  );
  assert.notEqual(profileGarbage.code, grpc.status.OK);
  const oversized = await raw("/trellis.destination.v1.Destination/Get", Buffer.alloc(64 * 1024, 0x0a));
  assert.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED);
  const unknown = await raw("/trellis.destination.v1.Destination/Nope", Buffer.alloc(0));
  assert.equal(unknown.code, grpc.status.UNIMPLEMENTED);
  const control = get(t, c, "web.shop\u0000:80");
  assert.equal((await control.status()).code, grpc.status.INVALID_ARGUMENT);

  // Raw bytes and HTTP/1.1 on the gRPC port: the connection is closed, nothing else happens.
  for (const junk of [
    "\x16\x03\x01\x00\xff garbage",
    "GET / HTTP/1.1\r\nhost: x\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff",
  ]) {
    const [host, port] = running.listen.split(":");
    const socket = connect(Number(port), host);
    socket.on("error", () => {});
    socket.end(junk, "latin1");
    socket.resume();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the server did not close the connection")), 15_000);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  assert.equal(addrsOf(await get(t, c, "web.shop:80").next()).length, 300);
  assert.equal((await adminGet(running.admin, "/ready")).status, 200);
});
