// The original destination of a redirected connection, read by the proxy's native addon: in a network
// namespace of the test's own with real iptables REDIRECT rules, the reader (as UID 2102, without any
// capability) returns the address and port the client dialled, IPv4 and IPv6, and nothing for a
// connection that was not redirected. Bad file descriptors, closed sockets and a missing addon give
// clear errors. Needs `npm run build` (it builds the addon into dist/).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import {
  ADDON_PATH,
  type Addon,
  loadAddon,
  loadOriginalDst,
  socketFd,
} from "../../../proxy/transport/original-dst.js";
import { createNetns, ip6tablesWorks, requireNetns } from "../../support/netns.js";
import { repoRoot, startCommand } from "../../support/process.js";

const BUILT = join(repoRoot, ADDON_PATH);
const PROBE = join(repoRoot, "test/proxy/transport/original-dst-probe.ts");
const tsx = import.meta.resolve("tsx");

/** The built addon; skips the test when it is not built (fails under CI=true, which builds first). */
function requireAddon(t: TestContext): Addon | undefined {
  const loaded = loadAddon();
  if ("addon" in loaded) return loaded.addon;
  if (process.platform === "linux" && (process.env.CI === "true" || existsSync(BUILT)))
    throw new Error(loaded.why);
  t.skip(loaded.why);
  return undefined;
}

/** A connected pair on loopback: [accepted, dialled]. */
async function pair(t: TestContext): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const dialled = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((resolve) => dialled.once("connect", resolve));
  const socket = await accepted;
  t.after(() => {
    socket.destroy();
    dialled.destroy();
  });
  return [socket, dialled];
}

test("the addon loads from the build, from source and from the compiled module (the bundle: test/integration/original-dst.test.ts)", (t) => {
  if (!requireAddon(t)) return;
  assert.equal(loadOriginalDst().unavailable, undefined);
  const compiled = join(repoRoot, "dist/proxy/transport/original-dst.js");
  const script = `import(${JSON.stringify(compiled)}).then((m) => { const u = m.loadOriginalDst().unavailable; if (u) { console.error(u); process.exit(4); } });`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("a socket's file descriptor is on Node's internal handle (socket._handle.fd), and gone once it closes", async (t) => {
  const [accepted, dialled] = await pair(t);
  for (const s of [accepted, dialled]) {
    const fd = socketFd(s);
    assert.ok(fd !== undefined && fd > 2, `fd ${fd}`);
  }
  accepted.destroy();
  assert.equal(socketFd(accepted), undefined);
  const addon = requireAddon(t);
  if (!addon) return;
  const read = loadOriginalDst().read(accepted);
  assert.equal(read.kind, "failed");
  assert.equal(read.kind === "failed" && read.code, "ENOFD");
  // A socket that was not redirected has no original destination of its own.
  assert.equal(loadOriginalDst().read(dialled).kind, "none");
});

test("bad file descriptors: clear errors naming the fd and the errno, and the process carries on", async (t) => {
  const addon = requireAddon(t);
  if (!addon) return;
  const call = (fd: unknown) => () => addon.originalDst(fd as number);
  for (const bad of ["7", undefined, null, {}, 3n])
    assert.throws(call(bad), { name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }, String(bad));
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])
    assert.throws(call(bad), { name: "RangeError", code: "ERR_OUT_OF_RANGE" }, String(bad));
  assert.throws(call(999_999), { code: "EBADF", syscall: "getsockname", message: /fd 999999.*EBADF/ });

  const dir = mkdtempSync(join(tmpdir(), "trellis-od-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "not-a-socket");
  writeFileSync(file, "");
  const fd = openSync(file, "r");
  t.after(() => closeSync(fd));
  assert.throws(call(fd), { code: "ENOTSOCK" });

  const udp = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
  t.after(() => udp.close());
  const udpFd = (udp as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof udpFd === "number" && udpFd >= 0)
    assert.throws(call(udpFd), { code: "ENOPROTOOPT", syscall: "getsockopt(SO_ORIGINAL_DST)" });

  const unix = net.createServer();
  await new Promise<void>((resolve) => unix.listen(join(dir, "sock"), resolve));
  t.after(() => unix.close());
  const unixFd = socketFd(unix as unknown as net.Socket);
  if (unixFd !== undefined) assert.throws(call(unixFd), { code: "EAFNOSUPPORT" });

  // The proxy's reader turns each of these into a result, never a throw.
  const fake = (fdValue: unknown) => ({ _handle: { fd: fdValue } }) as unknown as net.Socket;
  assert.deepEqual(
    [fake(999_999), fake("x"), fake(-1)].map((s) => {
      const r = loadOriginalDst().read(s);
      return r.kind === "failed" ? r.code : r.kind;
    }),
    ["EBADF", "ENOFD", "ENOFD"],
  );
});

test("without the addon the reader says why, for every socket", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trellis-od-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notAddon = join(dir, "original_dst.node");
  writeFileSync(notAddon, "not a shared object");
  const cases: [Parameters<typeof loadOriginalDst>[0], RegExp][] = [
    [{ platform: "darwin" }, /Linux's, this is darwin/],
    [{ paths: [join(dir, "nowhere.node")] }, /not built \(looked for .*nowhere\.node.*npm run build/],
    [{ paths: [notAddon] }, /does not load/],
  ];
  const [socket] = await pair(t);
  for (const [options, why] of cases) {
    const reader = loadOriginalDst(options);
    assert.match(reader.unavailable ?? "", why);
    const r = reader.read(socket);
    assert.equal(r.kind === "failed" && r.code, "EUNAVAILABLE");
  }
});

test("under iptables REDIRECT, the proxy's UID without capabilities reads the address and port the client dialled", async (t) => {
  if (!requireNetns(t) || !requireAddon(t)) return;
  const ns = createNetns(t);
  const ipv6 = ip6tablesWorks(ns);
  // A veth pair inside the namespace gives the dialled addresses a route (nothing answers there: the
  // nat rules send every connection to the listeners first).
  ns.sh(`
    ip link add trellis-od0 type veth peer name trellis-od1
    ip link set trellis-od0 up
    ip link set trellis-od1 up
    ip addr add 198.18.0.1/24 dev trellis-od0
    iptables -t raw -A OUTPUT -p tcp --dport 4141 -j CT --notrack
    iptables -t raw -A OUTPUT -p tcp --sport 4141 -j CT --notrack
    iptables -t nat -A OUTPUT -p tcp -m owner --uid-owner 2102 -j RETURN
    iptables -t nat -A OUTPUT -o lo -j RETURN
    iptables -t nat -A OUTPUT -p tcp --dport 3306 -j REDIRECT --to-ports 4142
    iptables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 4140
  `);
  if (ipv6)
    ns.sh(`
      ip -6 addr add 2001:2::1/64 dev trellis-od0 nodad
      ip6tables -t nat -A OUTPUT -p tcp -m owner --uid-owner 2102 -j RETURN
      ip6tables -t nat -A OUTPUT -o lo -j RETURN
      ip6tables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 4140
    `);
  const [command = "", ...prefix] = ns.execAsProxy;
  const probe = startCommand(t, command, [
    ...prefix,
    process.execPath,
    "--import",
    tsx,
    PROBE,
    "serve",
    ...(ipv6 ? ["--ipv6"] : []),
  ]);
  const ready = await probe.ready<{ uid: number; capEff: string }>(30_000);
  assert.deepEqual(ready, { ready: true, uid: 2102, capEff: "0000000000000000" });

  const targets = ["198.18.0.5:5432", "198.18.0.1:4140", "127.0.0.1:4141"];
  if (ipv6) targets.push("[2001:2::5]:8080", "198.18.0.5:3306");
  const [dialCommand = "", ...dialPrefix] = ns.exec;
  const dial = spawnSync(
    dialCommand,
    [...dialPrefix, process.execPath, "--import", tsx, PROBE, "dial", ...targets],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(dial.status, 0, dial.stderr);
  const answers = new Map(
    dial.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { target: string; answer: Record<string, unknown> })
      .map((l) => [l.target, l.answer]),
  );

  // Redirected: the listener's own address is 127.0.0.1:4140, the original destination what was dialled.
  assert.deepEqual(answers.get("198.18.0.5:5432"), {
    listener: "v4",
    local: "127.0.0.1:4140",
    reader: { kind: "redirected", dst: { address: "198.18.0.5", port: 5432, family: "IPv4" } },
    raw: { address: "198.18.0.5", port: 5432, family: "IPv4" },
  });
  // Tracked by conntrack but not redirected: the original destination is the socket's own address.
  assert.deepEqual(answers.get("198.18.0.1:4140"), {
    listener: "v4",
    local: "198.18.0.1:4140",
    reader: { kind: "none" },
    raw: { address: "198.18.0.1", port: 4140, family: "IPv4" },
  });
  // Not tracked at all: the kernel has no original destination (ENOENT), the addon returns undefined.
  assert.deepEqual(answers.get("127.0.0.1:4141"), {
    listener: "untracked",
    local: "127.0.0.1:4141",
    reader: { kind: "none" },
    raw: "undefined",
  });
  if (!ipv6) {
    t.diagnostic("ip6tables does not work here: the IPv6 cases did not run");
    return;
  }
  assert.deepEqual(answers.get("[2001:2::5]:8080"), {
    listener: "v6",
    local: "::1:4140",
    reader: { kind: "redirected", dst: { address: "2001:2::5", port: 8080, family: "IPv6" } },
    raw: { address: "2001:2::5", port: 8080, family: "IPv6" },
  });
  // A dual-stack listener's IPv4 client: an IPv4-mapped local address, an IPv4 original destination.
  assert.deepEqual(answers.get("198.18.0.5:3306"), {
    listener: "dual",
    local: "::ffff:127.0.0.1:4142",
    reader: { kind: "redirected", dst: { address: "198.18.0.5", port: 3306, family: "IPv4" } },
    raw: { address: "198.18.0.5", port: 3306, family: "IPv4" },
  });
});
