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

test("no proxy answering is a SourceError, said in one line", async () => {
  const source = new DirectSource([{ admin: "a:1", labels: {} }], 1, async () => {
    throw new Error("ECONNREFUSED");
  });
  await assert.rejects(
    source.collect(async () => {}),
    SourceError,
  );
});
