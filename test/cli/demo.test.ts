// meshctl demo, end to end: the real identity service, proxies and apps as separate processes on
// loopback, traffic flowing over mTLS, and the headless output other tools rely on.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { scrape, sum } from "../support/metrics.js";
import { bin, exitWithin, startNode } from "../support/process.js";

interface ProxyLine {
  name: string;
  identity: string;
  app: string;
  outbound: string;
  inbound: string;
  admin: string;
}

test("meshctl demo --headless: every proxy ready with its identity, traffic counted as mTLS", async (t) => {
  const demo = startNode(t, bin("meshctl"), ["demo", "--headless", "--duration", "120"]);
  const anchorLine = await demo.waitForLine((l) => l.includes('"trustAnchor"'), 30_000);
  const anchorPath = (JSON.parse(anchorLine) as { trustAnchor: string }).trustAnchor;
  assert.ok(existsSync(anchorPath), "the trust anchor file exists while the demo runs");

  const names = ["authors", "books", "books-v2", "web", "traffic"];
  const proxies = new Map<string, ProxyLine>();
  for (const name of names) {
    const line = await demo.waitForLine((l) => l.includes(`"name":"${name}"`), 60_000);
    const proxy = JSON.parse(line) as ProxyLine;
    assert.deepEqual(Object.keys(proxy).sort(), ["admin", "app", "identity", "inbound", "name", "outbound"]);
    assert.equal(proxy.identity, `spiffe://cluster.local/ns/demo/sa/${name}`);
    for (const addr of [proxy.app, proxy.outbound, proxy.inbound, proxy.admin])
      assert.match(addr, /^127\.\d+\.\d+\.\d+:\d+$/);
    proxies.set(name, proxy);
  }

  // web's proxy sees traffic's requests arrive over mTLS with traffic's identity, and sends its own
  // requests to books over mTLS, verified as books.
  const web = proxies.get("web")!;
  const deadline = Date.now() + 30_000;
  let metrics = "";
  for (;;) {
    metrics = await scrape(web.admin);
    const inbound = sum(metrics, "request_total", {
      direction: "inbound",
      tls: "true",
      client_id: "spiffe://cluster.local/ns/demo/sa/traffic",
    });
    const outbound = sum(metrics, "response_total", {
      direction: "outbound",
      tls: "true",
      server_id: "spiffe://cluster.local/ns/demo/sa/books",
      classification: "success",
    });
    if (inbound >= 5 && outbound >= 5) break;
    assert.ok(Date.now() < deadline, `no mTLS traffic counted on web's proxy within 30 s:\n${metrics}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(sum(metrics, "request_total", { tls: "no_identity" }), 0, "no plaintext traffic in the mesh");

  // The TrafficSplit canary: some of books' requests reach books-v2, sent by web over mTLS.
  const canary = proxies.get("books-v2");
  assert.ok(canary);
  for (;;) {
    const seen = sum(await scrape(canary.admin), "request_total", {
      direction: "inbound",
      client_id: "spiffe://cluster.local/ns/demo/sa/web",
    });
    if (seen >= 1) break;
    assert.ok(Date.now() < deadline + 30_000, "the canary got no request within 30 s");
    await new Promise((r) => setTimeout(r, 500));
  }

  // Apps, then proxies (each draining for up to 3 s), then the control plane: give it room on a busy machine.
  assert.equal(await demo.stop(20_000), 0, "SIGTERM stops the demo cleanly");
  assert.ok(!existsSync(anchorPath), "the demo removes its state when it stops");
});

test("meshctl demo without a terminal prints golden metrics tables, says why, and stops on SIGINT with 0", async (t) => {
  const runtime = mkdtempSync(join(tmpdir(), "trellis-demo-tables-"));
  t.after(() => rmSync(runtime, { recursive: true, force: true }));
  const demo = startNode(t, bin("meshctl"), ["demo", "--duration", "170"], { XDG_RUNTIME_DIR: runtime });
  // The table `viz stat deploy` prints, every 5 s, once the proxies answer.
  await demo.waitForLine((l) => /^NAME\s+MESHED\s+SUCCESS\s+RPS/.test(l), 90_000);
  await demo.waitForLine((l) => /^web\s+1\/1\s+\d/.test(l), 30_000);
  const states = join(runtime, "trellis", "demos");
  assert.equal(readdirSync(states).length, 1, "the state file exists while the demo runs");
  // Ctrl-C where there is no dashboard to read it as a key.
  demo.process.kill("SIGINT");
  assert.equal(await exitWithin(demo, 60_000), 0);
  assert.match(demo.stderr(), /from its proxy \(stdout is not a terminal\)/);
  assert.match(demo.stderr(), /Store: \S+\/mesh \(edit books-canary\.yaml there: traffic follows\)/);
  assert.match(demo.stderr(), /Stopped \(interrupted\)\./);
  assert.deepEqual(readdirSync(states), [], "and is removed when it stops");
});

test("meshctl demo rejects a bad --duration with a usage error", async (t) => {
  const demo = startNode(t, bin("meshctl"), ["demo", "--duration", "soon"]);
  assert.equal(await demo.exited, 2);
  assert.match(demo.stderr(), /--duration.*expected a number of seconds/s);
});

/** The PIDs whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The parent PID is the second field after the command name (which may hold spaces).
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test("a demo killed with SIGKILL leaves none of its processes running: apps, proxies, control plane", async (t) => {
  if (process.platform !== "linux") {
    t.skip("needs Linux (/proc and setpriv)");
    return;
  }
  const demo = startNode(t, bin("meshctl"), ["demo", "--headless", "--duration", "120"]);
  const anchorLine = await demo.waitForLine((l) => l.includes('"trustAnchor"'), 30_000);
  // A demo killed outright cannot remove its state (keys among it): the test does.
  const stateDir = dirname((JSON.parse(anchorLine) as { trustAnchor: string }).trustAnchor);
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  for (const name of ["authors", "books", "books-v2", "web", "traffic"])
    await demo.waitForLine((l) => l.includes(`"name":"${name}"`), 60_000);
  const pid = demo.process.pid ?? 0;
  const cmdline = (child: number) => readFileSync(`/proc/${child}/cmdline`, "utf8").replaceAll("\0", " ");
  const children = childrenOf(pid);
  // a proxy and an app per workload, the identity and destination services
  assert.ok(children.length >= 12, `only ${children.length} child processes found`);
  assert.equal(children.filter((child) => cmdline(child).includes("control/main.js")).length, 2);
  demo.process.kill("SIGKILL");
  await demo.exited;
  const deadline = Date.now() + 20_000;
  let left = children;
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = left.filter((child) => existsSync(`/proc/${child}`) && !zombie(child));
  }
  const described = left.map((child) => `${child}: ${cmdline(child).slice(0, 120)}`);
  for (const child of left) process.kill(child, "SIGKILL");
  assert.deepEqual(described, [], "children still running 20 s after the demo was killed");
});

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}
