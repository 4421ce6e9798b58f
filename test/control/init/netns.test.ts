// trellis-init for real: the built `trellis-controller init` run with `ip netns exec` in a pod network
// namespace this test creates, joined by a veth pair to a peer namespace (198.18.254.0/24 and
// 2001:2::/64, nothing else). For iptables-nft and iptables-legacy each: the nat table holds exactly our
// rules, once, after a rerun and a stray duplicate jump; and the kernel really redirects: the peer's
// connection to the pod's app port reaches the listener on 4143, ignored ports and the admin port reach
// their own listeners, the app's outbound connection reaches the listener on 4140, the same one made as
// the proxy's UID does not, and neither does one to an ignored port or to the pod's own address. Needs
// root (ip netns, iptables); without it the tests are skipped loudly, and fail under CI=true.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { before, type TestContext, test } from "node:test";
import { promisify } from "node:util";
import { desiredRules, ownRules, type RuleConfig, ruleConfig } from "../../../control/init/index.js";
import { bin, startCommand } from "../../support/process.js";
import { requireTools } from "../../support/tools.js";

const exec = promisify(execFile);
const MAIN = bin("trellis-controller");
const PREFIX = `trellis-init-${process.pid}`;
const POD = { v4: "198.18.254.1", v6: "2001:2::1" };
const PEER = { v4: "198.18.254.2", v6: "2001:2::2" };
const FLAGS = [
  "--proxy-uid=2102",
  "--inbound-ports-to-ignore=9090,8000-8010",
  "--outbound-ports-to-ignore=9200",
];
const CONFIG: RuleConfig = ruleConfig({
  incomingProxyPort: 4143,
  outgoingProxyPort: 4140,
  proxyUid: 2102,
  inboundPortsToIgnore: [
    { low: 9090, high: 9090 },
    { low: 8000, high: 8010 },
  ],
  outboundPortsToIgnore: [{ low: 9200, high: 9200 }],
  iptablesMode: "auto",
  ipv6: "auto",
  dryRun: false,
});

/** Every listener answers with who it is (`pod:4143`) and closes. */
const LISTENER = `
const net = require("node:net");
const [name, ...ports] = process.argv.slice(1);
let pending = ports.length;
for (const port of ports) {
  const server = net.createServer((c) => { c.on("error", () => {}); c.end(name + ":" + port + "\\n"); });
  server.listen({ port: Number(port), host: "::", ipv6Only: false }, () => {
    if (--pending === 0) console.log(JSON.stringify({ ready: true }));
  });
}`;

/** Connects, prints what the listener said (or error:CODE), exits; bounded by its own timeout. */
const CLIENT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const c = net.connect({ host, port: Number(port) });
let data = "";
c.setTimeout(5000, () => { console.log("error:timeout"); process.exit(0); });
c.on("data", (d) => { data += d; });
c.on("end", () => { console.log(data.trim()); process.exit(0); });
c.on("error", (e) => { console.log("error:" + e.code); process.exit(0); });`;

async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(command, args, { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === "number" ? e.code : -1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? String(err),
    };
  }
}

async function ok(command: string, args: string[]): Promise<string> {
  const r = await run(command, args);
  assert.equal(r.code, 0, `${command} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function canRun(t: TestContext): boolean {
  if (process.getuid?.() !== 0) {
    const why = "needs root: it creates network namespaces and applies iptables rules in them";
    if (process.env.CI === "true") throw new Error(`cannot run in CI: ${why}`);
    process.stderr.write(`\n!!! test/control/init/netns.test.ts SKIPPED: ${why}\n\n`);
    t.skip(why);
    return false;
  }
  if (!requireTools(t, "ip", "setpriv", "iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save"))
    return false;
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
  return true;
}

/** Namespaces left by a test process that died before its cleanup ran. */
before(async () => {
  if (process.getuid?.() !== 0) return;
  const list = await run("ip", ["netns", "list"]);
  for (const m of list.stdout.matchAll(/^(trellis-init-(\d+)-\S+)/gm)) {
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) await run("ip", ["netns", "del", m[1] as string]);
  }
});

/** A pod namespace and a peer namespace joined by a veth pair; both removed when the test ends. */
async function podAndPeer(t: TestContext, name: string): Promise<{ pod: string; peer: string }> {
  const pod = `${PREFIX}-${name}`;
  const peer = `${PREFIX}-${name}-peer`;
  t.after(async () => {
    await run("ip", ["netns", "del", pod]);
    await run("ip", ["netns", "del", peer]);
  });
  await ok("ip", ["netns", "add", pod]);
  await ok("ip", ["netns", "add", peer]);
  await ok("ip", ["-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer]);
  for (const [ns, addr] of [
    [pod, POD],
    [peer, PEER],
  ] as const) {
    await ok("ip", ["-n", ns, "link", "set", "lo", "up"]);
    await ok("ip", ["-n", ns, "addr", "add", `${addr.v4}/24`, "dev", "eth0"]);
    await ok("ip", ["-n", ns, "-6", "addr", "add", `${addr.v6}/64`, "dev", "eth0", "nodad"]);
    await ok("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
  return { pod, peer };
}

function init(ns: string, args: string[]) {
  return run("ip", ["netns", "exec", ns, process.execPath, MAIN, "init", ...args]);
}

/** Our rules in one table of one backend, sorted (iptables-save lists chains alphabetically). */
async function ourRules(ns: string, tool: string): Promise<string[]> {
  const own = ownRules(await ok("ip", ["netns", "exec", ns, tool, "-t", "nat"]));
  return [...own.chains, ...[...own.jumps.values()].flat()].sort();
}

async function assertOneCopy(ns: string, mode: "nft" | "legacy"): Promise<void> {
  const other = mode === "nft" ? "legacy" : "nft";
  assert.deepEqual(await ourRules(ns, `iptables-${mode}-save`), desiredRules(CONFIG, "ipv4").toSorted());
  assert.deepEqual(await ourRules(ns, `ip6tables-${mode}-save`), desiredRules(CONFIG, "ipv6").toSorted());
  assert.deepEqual(await ourRules(ns, `iptables-${other}-save`), [], `nothing in ${other}`);
}

/** Connects from `ns` (as `uid` when given) and returns who answered. */
async function connect(ns: string, host: string, port: number, uid?: number): Promise<string> {
  const as = uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
  return (
    await ok("ip", ["netns", "exec", ns, ...as, process.execPath, "-e", CLIENT, host, String(port)])
  ).trim();
}

for (const mode of ["nft", "legacy"] as const) {
  test(`${mode}: the rules, once after reruns, and the kernel redirects as they say`, async (t) => {
    if (!canRun(t)) return;
    const { pod, peer } = await podAndPeer(t, mode);

    // nft: found by auto on a new namespace, then forced; legacy: forced, then found by auto.
    const [first, second] = mode === "nft" ? ["auto", "nft"] : ["legacy", "auto"];
    const r1 = await init(pod, [...FLAGS, `--iptables-mode=${first}`]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, new RegExp(`^trellis-init: iptables backend ${mode} \\(`, "m"));
    assert.match(r1.stdout, /^trellis-init: IPv6: applied with /m);
    await assertOneCopy(pod, mode);

    // A stray duplicate jump (another tool, an older run) is gone after the rerun.
    await ok("ip", [
      "netns",
      "exec",
      pod,
      `iptables-${mode}`,
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-j",
      "TRELLIS_OUTPUT",
    ]);
    const r2 = await init(pod, [...FLAGS, `--iptables-mode=${second}`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, new RegExp(`^trellis-init: iptables backend ${mode} \\(`, "m"));
    assert.match(r2.stdout, /IPv4: applied with .* \(replacing 2 earlier jumps\)/);
    await assertOneCopy(pod, mode);

    const podListeners = startCommand(t, "ip", [
      "netns",
      "exec",
      pod,
      process.execPath,
      "-e",
      LISTENER,
      "pod",
      "4140",
      "4143",
      "4191",
      "8080",
      "8005",
      "9090",
    ]);
    const peerListeners = startCommand(t, "ip", [
      "netns",
      "exec",
      peer,
      process.execPath,
      "-e",
      LISTENER,
      "peer",
      "8080",
      "9200",
    ]);
    await Promise.all([podListeners.ready(30_000), peerListeners.ready(30_000)]);

    const cases: [string, Promise<string>, string][] = [
      ["inbound to the app port", connect(peer, POD.v4, 8080), "pod:4143"],
      ["inbound to the app port over IPv6", connect(peer, POD.v6, 8080), "pod:4143"],
      ["inbound to an ignored port", connect(peer, POD.v4, 9090), "pod:9090"],
      ["inbound to an ignored range", connect(peer, POD.v4, 8005), "pod:8005"],
      ["inbound to the admin port, never intercepted", connect(peer, POD.v4, 4191), "pod:4191"],
      ["outbound from the app", connect(pod, PEER.v4, 8080), "pod:4140"],
      ["outbound from the app over IPv6", connect(pod, PEER.v6, 8080), "pod:4140"],
      ["outbound as the proxy's UID", connect(pod, PEER.v4, 8080, 2102), "peer:8080"],
      ["outbound to an ignored port", connect(pod, PEER.v4, 9200), "peer:9200"],
      ["the app to its own pod address", connect(pod, POD.v4, 8080), "pod:8080"],
      ["the app to localhost", connect(pod, "127.0.0.1", 8080), "pod:8080"],
    ];
    const answers = await Promise.all(cases.map(([, answer]) => answer));
    assert.deepEqual(
      cases.map(([what], i) => `${what}: ${answers[i]}`),
      cases.map(([what, , expected]) => `${what}: ${expected}`),
    );
  });
}

test("--dry-run changes nothing; without NET_ADMIN the failure is one line with iptables' stderr, exit 1", async (t) => {
  if (!canRun(t)) return;
  const { pod } = await podAndPeer(t, "fail");
  const dry = await init(pod, [...FLAGS, "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^\*nat$/m);
  for (const tool of ["iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save"])
    assert.deepEqual(await ourRules(pod, tool), [], tool);

  const capless = await run("ip", [
    "netns",
    "exec",
    pod,
    "setpriv",
    "--bounding-set=-net_admin,-net_raw",
    "--inh-caps=-net_admin,-net_raw",
    process.execPath,
    MAIN,
    "init",
    ...FLAGS,
    "--iptables-mode=legacy",
  ]);
  assert.equal(capless.code, 1, capless.stdout + capless.stderr);
  const lines = capless.stderr.trim().split("\n");
  assert.equal(lines.length, 1, capless.stderr);
  assert.match(
    lines[0] ?? "",
    /^trellis-init: TRELLIS_E_INIT_SAVE_FAILED: the nat table could not be read: \S*iptables-legacy-save -t nat exited \d+: .*Permission denied/,
  );
});
