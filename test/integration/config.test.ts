// The real trellis-proxy executable with bad TRELLIS_PROXY_* variables: exit 2, one message naming
// every bad variable, and nothing started (no listener bound, no call to the identity service).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { test } from "node:test";
import { PROXY_NODE_FLAGS } from "../../proxy/node-flags.js";
import { freePort } from "../support/mesh.js";
import { bin, startCommand, startNode } from "../support/process.js";

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

test("trellis-proxy with bad variables exits 2 naming each of them, without listening", async (t) => {
  // A stand-in identity service that only counts connections: a proxy that got past its configuration
  // would dial it at once.
  let dialed = 0;
  const identity = net.createServer((socket) => {
    dialed++;
    socket.destroy();
  });
  t.after(() => identity.close());
  await new Promise<void>((resolve) => identity.listen(0, "127.0.0.1", resolve));
  const identityPort = (identity.address() as net.AddressInfo).port;
  const [inbound, outbound, admin] = await Promise.all([freePort(), freePort(), freePort()]);

  const bad = {
    TRELLIS_PROXY_IDENTITY_NAME: "web.shop",
    TRELLIS_PROXY_DETECT_TIMEOUT_MS: "soon",
    TRELLIS_PROXY_INBOUND_PORTS: "8080,http",
    TRELLIS_PROXY_DESTINATIONS: JSON.stringify([
      { authority: "web.shop.svc.cluster.local:8080", endpoints: [{ address: "10.0.0.7:8080", weight: 1 }] },
    ]),
  };
  const child = startNode(t, bin("trellis-proxy"), [], {
    TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inbound}`,
    TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outbound}`,
    TRELLIS_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${admin}`,
    TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    TRELLIS_PROXY_IDENTITY_SVC_ADDR: `127.0.0.1:${identityPort}`,
    TRELLIS_PROXY_IDENTITY_SVC_NAME: "spiffe://cluster.local/ns/trellis/sa/identity",
    // TRELLIS_PROXY_IDENTITY_TOKEN_FILE is required and missing.
    TRELLIS_PROXY_IDENTITY_TOKEN_FILE: "",
    ...bad,
  });
  const code = await Promise.race([
    child.exited,
    new Promise<string>((resolve) => setTimeout(resolve, 20_000, "still running after 20 s").unref()),
  ]);
  assert.equal(code, 2, child.stderr());

  const stderr = child.stderr();
  for (const name of [...Object.keys(bad), "TRELLIS_PROXY_IDENTITY_TOKEN_FILE"]) {
    assert.ok(stderr.includes(name), `stderr names ${name}:\n${stderr}`);
  }
  assert.match(stderr, /unknown field "weight"/);
  assert.match(stderr, /README/, "says where the variables are documented");
  assert.deepEqual(child.lines, [], "no ready line");
  assert.equal(dialed, 0, "the identity service was never called");
  for (const port of [inbound, outbound, admin]) assert.equal(await listening(port), false);
});

test("trellis-proxy with every variable missing names each required one; the executable runs node with the proxy's flags", async (t) => {
  const required = [
    "TRELLIS_PROXY_IDENTITY_NAME",
    "TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS",
    "TRELLIS_PROXY_IDENTITY_TOKEN_FILE",
    "TRELLIS_PROXY_IDENTITY_SVC_ADDR",
    "TRELLIS_PROXY_IDENTITY_SVC_NAME",
  ];
  // Run as the executable itself, so its shebang (the proxy's V8 flags) is what starts node. Blank
  // variables, so nothing inherited from the test's own environment fills them in.
  const shebang = (await readFile(bin("trellis-proxy"), "utf8")).split("\n")[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${PROXY_NODE_FLAGS.join(" ")}`);
  const child = startCommand(t, bin("trellis-proxy"), [], Object.fromEntries(required.map((n) => [n, ""])));
  const code = await Promise.race([
    child.exited,
    new Promise<string>((resolve) => setTimeout(resolve, 20_000, "still running after 20 s").unref()),
  ]);
  assert.equal(code, 2, child.stderr());
  for (const name of required) {
    assert.match(child.stderr(), new RegExp(`${name} is required`));
  }
});
