/**
 * Header hygiene of the HTTP/1.x relay: what crosses the proxy end to end, and the fields the relay
 * itself acts on.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { splitHeaders } from "../../../proxy/http/headers.js";

test("hop-by-hop fields stay behind; the ones the relay needs are kept aside", () => {
  const { headers, hop } = splitHeaders([
    "Host",
    "web.shop:80",
    "Connection",
    "keep-alive",
    "Keep-Alive",
    "timeout=5",
    "Transfer-Encoding",
    "chunked",
    "Trellis-Dst-Port",
    "8080",
    "Upgrade",
    "h2c",
    "Content-Type",
    "text/plain",
  ]);
  assert.deepEqual(headers, { "content-type": "text/plain" });
  assert.deepEqual(hop, {
    host: "web.shop:80",
    transferEncoding: "chunked",
    dstPort: "8080",
    expect: undefined,
  });
});

test("fields the Connection header names are dropped, however it is spelled", () => {
  const { headers } = splitHeaders([
    "Connection",
    "X-Hop, close",
    "x-hop",
    "1",
    "connection",
    "Keep-Alive,X-Other",
    "X-Other",
    "2",
    "X-Kept",
    "3",
  ]);
  assert.deepEqual(headers, { "x-kept": "3" });
});

test("repeated fields become a list; te survives only as trailers; expect is seen and passed on", () => {
  const { headers, hop } = splitHeaders([
    "Set-Cookie",
    "a=1",
    "set-cookie",
    "b=2",
    "TE",
    "trailers",
    "Expect",
    "100-continue",
  ]);
  assert.deepEqual(headers, { "set-cookie": ["a=1", "b=2"], te: "trailers", expect: "100-continue" });
  assert.equal(hop.expect, "100-continue");
  assert.deepEqual(splitHeaders(["TE", "gzip"]).headers, {});
});

test("the first Host, and the first mesh port, win", () => {
  const { hop } = splitHeaders(["Host", "a", "Host", "b", "trellis-dst-port", "1", "trellis-dst-port", "2"]);
  assert.equal(hop.host, "a");
  assert.equal(hop.dstPort, "1");
});
