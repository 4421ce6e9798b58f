/**
 * Network namespaces for tests that need real iptables interception: each named `trellis-od-<pid>-<n>`
 * (this process's PID, so a namespace left by a killed run is recognised and removed by the next one),
 * with addresses only from 198.18.0.0/15 (IPv6: the benchmarking prefix 2001:2::/48), joined by veth
 * pairs the test creates. Every namespace is deleted when the test ends, whatever happened. Needs root,
 * iproute2 (`ip netns`), iptables and util-linux's setpriv; without them a test is skipped (with CI=true
 * it fails).
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { hasTool } from "./tools.js";

/** The proxy's UID (DESIGN.md): iptables lets its traffic out unintercepted. */
export const PROXY_UID = 2102;

/** Why this machine cannot run namespace tests, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux's";
  if (process.getuid?.() !== 0) return "needs root (ip netns, iptables)";
  const missing = ["ip", "iptables", "setpriv"].filter((tool) => !hasTool(tool));
  if (missing.length > 0) return `needs ${missing.join(", ")} on PATH`;
  return undefined;
}

/** True when namespace tests can run; otherwise skips the test (or throws under CI=true). */
export function requireNetns(t: TestContext): boolean {
  const why = netnsUnavailable();
  if (!why) return true;
  if (process.env.CI === "true") throw new Error(`cannot run in CI: ${why}`);
  t.skip(why);
  return false;
}

export interface Netns {
  name: string;
  /** Runs a shell script inside (set -e); throws with its output when it fails. */
  sh(script: string): string;
  /** The command prefix that runs a program inside. */
  exec: string[];
  /** The command prefix that runs a program inside as the proxy's UID, without any capability. */
  execAsProxy: string[];
}

let created = 0;

/** Creates a namespace with loopback up; it is deleted when the test ends. */
export function createNetns(t: TestContext): Netns {
  removeStale();
  const name = `trellis-od-${process.pid}-${created++}`;
  run("ip", ["netns", "add", name]);
  t.after(() => {
    spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  });
  const exec = ["ip", "netns", "exec", name];
  const ns: Netns = {
    name,
    exec,
    execAsProxy: [
      ...exec,
      "setpriv",
      `--reuid=${PROXY_UID}`,
      `--regid=${PROXY_UID}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
    ],
    sh: (script) => run("ip", ["netns", "exec", name, "sh", "-ec", script]),
  };
  ns.sh("ip link set lo up");
  return ns;
}

/** Whether ip6tables can add a nat rule inside `ns` (IPv6 parts of a test run only then). */
export function ip6tablesWorks(ns: Netns): boolean {
  const probe = spawnSync("ip", ["netns", "exec", ns.name, "ip6tables", "-t", "nat", "-S", "OUTPUT"], {
    stdio: "ignore",
  });
  return probe.status === 0;
}

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Deletes namespaces of earlier runs whose process is gone. */
function removeStale(): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const m = /^(trellis-od-(\d+)-\d+)\b/.exec(line);
    if (!m || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      spawnSync("ip", ["netns", "del", m[1] as string], { stdio: "ignore" });
    }
  }
}
