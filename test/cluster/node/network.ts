/**
 * The node stand-in's network: one Linux bridge per test bed and, per pod, a network namespace joined
 * to it by a veth pair. Addresses come from 198.18.0.0/15 only: test bed number `slot` owns pods
 * 198.18.<slot>.0/24 (the bridge, which is also the node's address, is .1) and services
 * 198.19.<slot>.0/24, so test beds started side by side never share an address. Every name starts with
 * "trellis": namespaces `trellis-<slot>-<n>`, bridge `trellis<slot>br`, host-side veths
 * `trellis<slot>v<n>`. A slot is claimed with a PID file under /run/trellis-testbed; a slot whose
 * owner died is cleaned up before it is reused.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { pidAlive } from "../harness/procs.js";

const run = promisify(execFile);
const SLOTS_DIR = "/run/trellis-testbed";
const MAX_SLOT = 250;

/** Runs `ip ...`; rejects with its stderr. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("ip", args, { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(e.stderr ?? e.message).trim()}`);
  }
}

export const bridgeName = (slot: number) => `trellis${slot}br`;
export const netnsPrefix = (slot: number) => `trellis-${slot}-`;

/** The addresses of one test bed. */
export interface SlotAddresses {
  slot: number;
  /** The bridge's address: the node's InternalIP and the pods' gateway. */
  gateway: string;
  podCidr: string;
  serviceCidr: string;
}

export function addressesOf(slot: number): SlotAddresses {
  return {
    slot,
    gateway: `198.18.${slot}.1`,
    podCidr: `198.18.${slot}.0/24`,
    serviceCidr: `198.19.${slot}.0/24`,
  };
}

/** Removes every namespace, veth and the bridge of a slot (what a dead owner left behind). */
export async function cleanupSlot(slot: number): Promise<void> {
  const list = await ip("netns", "list").catch(() => "");
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(netnsPrefix(slot))) await ip("netns", "delete", name).catch(() => {});
    if (name.startsWith(netnsPrefix(slot)))
      rmSync(join("/etc/netns", name), { recursive: true, force: true });
  }
  const links = await ip("-o", "link", "show").catch(() => "");
  for (const m of links.matchAll(/^\d+: ([^:@\s]+)/gm)) {
    const link = m[1] ?? "";
    if (link === bridgeName(slot) || new RegExp(`^trellis${slot}v\\d+$`).test(link)) {
      await ip("link", "delete", link).catch(() => {});
    }
  }
}

/** Claims a free slot (cleaning up one whose owner died) and returns it with a release function. */
export async function claimSlot(pid = process.pid): Promise<{ slot: number; release: () => void }> {
  mkdirSync(SLOTS_DIR, { recursive: true });
  for (let slot = 0; slot <= MAX_SLOT; slot++) {
    const path = slotFile(slot);
    try {
      writeFileSync(path, String(pid), { flag: "wx" });
    } catch {
      const owner = Number(readFileSync(path, "utf8").trim() || "0");
      if (owner > 0 && pidAlive(owner)) continue;
      rmSync(path, { force: true });
      try {
        writeFileSync(path, String(pid), { flag: "wx" });
      } catch {
        continue; // someone else took it in between
      }
    }
    await cleanupSlot(slot);
    return { slot, release: () => rmSync(path, { force: true }) };
  }
  throw new Error(`no free test bed slot in ${SLOTS_DIR} (${MAX_SLOT + 1} in use)`);
}

/** The PID file that claims a slot. */
export function slotFile(slot: number): string {
  return join(SLOTS_DIR, `slot-${slot}.pid`);
}

/** Slots whose owner is dead, for `cluster:down` to clean. */
export function deadSlots(): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(SLOTS_DIR);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const m = /^slot-(\d+)\.pid$/.exec(n);
    if (!m) return [];
    const owner = Number(readFileSync(join(SLOTS_DIR, n), "utf8").trim() || "0");
    return pidAlive(owner) ? [] : [Number(m[1])];
  });
}

/** A pod's network: its namespace, address and host-side veth. */
export interface PodNetwork {
  netns: string;
  ip: string;
  hostVeth: string;
}

/** The bridge of one test bed and the pod namespaces on it. */
export class NodeNetwork {
  readonly addresses: SlotAddresses;
  private nextIndex = 0;
  private readonly used = new Set<number>();

  constructor(readonly slot: number) {
    this.addresses = addressesOf(slot);
  }

  get bridge(): string {
    return bridgeName(this.slot);
  }

  /** Creates the bridge with the gateway address. Packets from pods are never forwarded off it. */
  async create(): Promise<void> {
    await ip("link", "add", this.bridge, "type", "bridge");
    await ip("addr", "add", `${this.addresses.gateway}/24`, "dev", this.bridge);
    await ip("link", "set", this.bridge, "up");
    // Only bridged pod-to-pod traffic and traffic to the node itself: nothing routed onwards.
    writeFileSync(`/proc/sys/net/ipv4/conf/${this.bridge}/forwarding`, "0");
  }

  private allocate(): number {
    for (let i = 0; i < 253; i++) {
      const n = ((this.nextIndex + i) % 253) + 2;
      if (!this.used.has(n)) {
        this.used.add(n);
        this.nextIndex = n - 1;
        return n;
      }
    }
    throw new Error(`node network ${this.addresses.podCidr} is full (253 pods)`);
  }

  /** A new namespace with `eth0` on the bridge, loopback up and routes to pods, node and services. */
  async addPod(): Promise<PodNetwork> {
    const n = this.allocate();
    const netns = `${netnsPrefix(this.slot)}${n}`;
    const hostVeth = `trellis${this.slot}v${n}`;
    const podIp = `198.18.${this.slot}.${n}`;
    try {
      await ip("netns", "add", netns);
      await ip("link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", netns);
      await ip("link", "set", hostVeth, "master", this.bridge);
      await ip("link", "set", hostVeth, "up");
      await ip("-n", netns, "link", "set", "lo", "up");
      await ip("-n", netns, "addr", "add", `${podIp}/24`, "dev", "eth0");
      await ip("-n", netns, "link", "set", "eth0", "up");
      // Service addresses go to the node, so an injected pod's iptables can intercept them; there is
      // no default route, so nothing else leaves the test bed.
      await ip("-n", netns, "route", "add", this.addresses.serviceCidr, "via", this.addresses.gateway);
      return { netns, ip: podIp, hostVeth };
    } catch (err) {
      await ip("netns", "delete", netns).catch(() => {});
      await ip("link", "delete", hostVeth).catch(() => {});
      this.used.delete(n);
      throw err;
    }
  }

  /** Deletes the namespace (which deletes its veth pair) and its /etc/netns files. */
  async removePod(pod: PodNetwork): Promise<void> {
    await ip("netns", "delete", pod.netns).catch(() => {});
    await ip("link", "delete", pod.hostVeth).catch(() => {});
    rmSync(join("/etc/netns", pod.netns), { recursive: true, force: true });
    const n = Number(pod.ip.split(".")[3]);
    this.used.delete(n);
  }

  /** Removes every pod namespace of this slot and the bridge. */
  async destroy(): Promise<void> {
    await cleanupSlot(this.slot);
  }
}
