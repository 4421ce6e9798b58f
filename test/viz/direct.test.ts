// The direct source over two scrapes of fake admin endpoints: target labels added, window applied.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DirectSource } from "../../viz/direct.js";
import { SourceError } from "../../viz/source.js";

test("the direct source answers increase over the window, with the target's labels where the proxy set none", async () => {
  let n = 0;
  const texts = [
    'request_total{direction="inbound"} 10\nidentity_cert_expiration_timestamp_seconds 5\n',
    'request_total{direction="inbound"} 30\nidentity_cert_expiration_timestamp_seconds 5\n',
  ];
  const source = new DirectSource(
    [{ admin: "a:1", labels: { namespace: "demo", deployment: "web" } }],
    10,
    async () => texts[n++] ?? "",
  );
  await source.collect(async () => {});
  assert.deepEqual(await source.increase("request_total", { direction: "inbound" }, ["deployment"]), [
    { labels: { deployment: "web" }, value: 20 },
  ]);
  assert.deepEqual(
    await source.current("identity_cert_expiration_timestamp_seconds", { namespace: "demo" }, ["deployment"]),
    [{ labels: { deployment: "web" }, value: 5 }],
  );
});

test("a second scrape that comes late is scaled to the window, as Prometheus extrapolates increase", async () => {
  let n = 0;
  let clock = 0;
  const texts = ['request_total{direction="inbound"} 0\n', 'request_total{direction="inbound"} 30\n'];
  const source = new DirectSource([{ admin: "a:1", labels: { deployment: "web" } }], 10, async () => {
    clock += 1000; // each scrape takes a second
    return texts[n++] ?? "";
  });
  // A 10 s window whose sleep ran 4 s late: the scrapes' middles are 15 s apart.
  await source.collect(
    async (ms) => {
      clock += ms + 4000;
    },
    () => clock,
  );
  assert.deepEqual(await source.increase("request_total", {}, ["deployment"]), [
    { labels: { deployment: "web" }, value: 20 },
  ]);
});

test("no proxy answering is a SourceError, said in one line", async () => {
  const source = new DirectSource([{ admin: "a:1", labels: {} }], 1, async () => {
    throw new Error("ECONNREFUSED");
  });
  await assert.rejects(
    source.collect(async () => {}),
    SourceError,
  );
});
