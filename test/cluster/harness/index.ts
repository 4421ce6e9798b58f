/**
 * The cluster test bed: a real etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 and a node
 * stand-in that runs pods as network namespaces. Tests call {@link startCluster}; `cluster:up` runs the
 * same in the background. Everything started is stopped by {@link Cluster.stop}, when the test ends
 * (given its context), and, failing both, when this process exits (processes by PID, network by name).
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { type Binaries, binaries } from "../build/paths.js";
import {
  addressesOf,
  bridgeName,
  claimSlot,
  NodeNetwork,
  netnsPrefix,
  type SlotAddresses,
} from "../node/network.js";
import { NodeStandIn } from "../node/standin.js";
import { type ControlPlane, startControlPlane } from "./controlplane.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { type ClusterPki, createClusterPki } from "./pki.js";
import { waitUntil } from "./procs.js";

export { createCa, type Issued, issueCert } from "../../support/pki.js";
export { TEST_IMAGE_PREFIX, TRELLIS_IMAGE } from "../node/images.js";
export type { NodeStandIn } from "../node/standin.js";
export { SERVICE_ACCOUNT_ISSUER } from "./controlplane.js";
export { containerStatus, EventLog, hasCondition, waitForPod } from "./pods.js";
export { waitForObject } from "./wait.js";

export interface ClusterOptions {
  /** Folder for certificates, logs, etcd data and pod files; default a new temp folder (removed on stop). */
  dir?: string;
  /** Name of the Node the stand-in registers; default `trellis-testbed`. */
  nodeName?: string;
  /** Bind pods without spec.nodeName to the node (default true). */
  bindUnscheduled?: boolean;
  /** Keep the control plane's processes when this process exits (`cluster:up`'s daemon). */
  keepOnExit?: boolean;
  /** Progress lines; default: nothing unless TRELLIS_TEST_VERBOSE is set. */
  log?: (msg: string) => void;
}

/** A running test bed. */
export interface Cluster {
  dir: string;
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  apiserverUrl: string;
  pki: ClusterPki;
  /** Pod and service ranges and the node address of this test bed. */
  addresses: SlotAddresses;
  node: NodeStandIn;
  bin: Binaries;
  /** Runs kubectl of the same version against this cluster; resolves with stdout, rejects with stderr. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Creates a namespace and waits until its `default` ServiceAccount exists (pods need it). */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** PIDs of the control plane's processes. */
  pids(): number[];
  stop(): Promise<void>;
}

/** Why the test bed cannot run here, or undefined when it can (binaries built, root, `ip netns`). */
export function preflight(bin: Binaries = binaries()): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, veths, a bridge)";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
  } catch {
    return "needs `ip netns` (Debian package iproute2)";
  }
  const missing = [bin.etcd, bin.kubeApiserver, bin.kubeControllerManager, bin.kubectl].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0) return `binaries not built (${missing.join(", ")}): run npm run cluster:build`;
  return undefined;
}

/** Starts a test bed; with a test context it is stopped when the test ends. */
export async function startCluster(t?: TestContext, opts: ClusterOptions = {}): Promise<Cluster> {
  const bin = binaries();
  const why = preflight(bin);
  if (why) throw new Error(`cluster test bed cannot start: ${why}`);
  const log =
    opts.log ??
    (process.env.TRELLIS_TEST_VERBOSE ? (m) => process.stderr.write(`[testbed] ${m}\n`) : () => {});
  const ownDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "trellis-testbed-"));
  mkdirSync(dir, { recursive: true });
  const { slot, release } = await claimSlot();
  const addresses = addressesOf(slot);
  let controlPlane: ControlPlane | undefined;
  let node: NodeStandIn | undefined;
  let stopped = false;

  // Last resort when the process dies without stop(): the processes die with procs.ts's exit hook;
  // the namespaces and the bridge are removed here, synchronously.
  const cleanUp = () => {
    try {
      const list = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
      for (const line of list.split("\n")) {
        const name = line.split(" ")[0] ?? "";
        if (name.startsWith(netnsPrefix(slot)))
          execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
      }
      execFileSync("ip", ["link", "delete", bridgeName(slot)], { stdio: "ignore" });
    } catch {
      // best effort: the next claim of this slot cleans what is left
    }
    release();
  };
  const onExit = () => {
    if (!stopped) cleanUp();
  };
  if (!opts.keepOnExit) process.on("exit", onExit);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", onExit);
    // Neither a stop that hangs nor a watch or timer a client of the test bed left open may keep the
    // test process, and the tier waiting for it, past this: the pods' grace periods (10 s at most,
    // in parallel) and the control plane's stop take far less. What is left is removed, the processes
    // die with procs.ts's exit hook, and the message says where the stop was. Unref'd, the timer
    // keeps nothing alive by itself.
    // A process whose test bed stopped leaves through process.exit(), even when its event loop simply
    // ran out of work: left to end by itself, Node frees its environment, which can spin for good in
    // uv_run under node::Environment::CleanupHandles waiting on a handle whose close never comes.
    // Called from an 'exit' listener, process.exit() goes straight to the exit code its tests set.
    process.once("exit", () => process.exit());
    let phase = "stopping the node stand-in";
    setTimeout(() => {
      process.stderr.write(`test bed: still busy 60 s after stop() (${phase}): exiting\n`);
      if (phase !== "stopped") cleanUp();
      process.exit();
    }, 60_000).unref();
    await node?.stop().catch((err) => log(`node stop: ${(err as Error).message}`));
    phase = "stopping the control plane";
    await controlPlane?.stop();
    phase = "removing the test bed's files";
    release();
    if (ownDir && !process.env.TRELLIS_TESTBED_KEEP) rmSync(dir, { recursive: true, force: true });
    phase = "stopped";
  };

  try {
    log(`slot ${slot}: pods ${addresses.podCidr}, services ${addresses.serviceCidr}, files in ${dir}`);
    const pki = await createClusterPki([addresses.gateway, addresses.serviceCidr.replace(/0\/24$/, "1")]);
    controlPlane = await startControlPlane({
      bin,
      dir,
      pki,
      serviceCidr: addresses.serviceCidr,
      keepOnExit: opts.keepOnExit,
    });
    log(`kube-apiserver ready at ${controlPlane.apiserverUrl}`);
    const kubeconfigPath = join(dir, "kubeconfig");
    const kubeConfig = writeKubeconfig(kubeconfigPath, controlPlane.apiserverUrl, pki);
    node = new NodeStandIn({
      kubeConfig,
      network: new NodeNetwork(slot),
      dir: join(dir, "node"),
      apiserverPort: controlPlane.apiserverPort,
      name: opts.nodeName,
      bindUnscheduled: opts.bindUnscheduled,
      log,
    });
    await node.start();
    log(`node ${node.name} registered at ${node.address}`);
    await controlPlane.startControllerManager(kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const hasDefaultSa = (namespace: string) => async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace });
      return true;
    };
    // The controllers are working once the default namespace has its ServiceAccount.
    await waitUntil("kube-controller-manager's serviceaccount controller", hasDefaultSa("default"), {
      timeoutMs: 90_000,
      intervalMs: 250,
      proc: controlPlane.procs.at(-1),
    });
    log("kube-controller-manager ready");
    const cp = controlPlane;
    const cluster: Cluster = {
      dir,
      kubeconfigPath,
      kubeConfig,
      apiserverUrl: cp.apiserverUrl,
      pki,
      addresses,
      node,
      bin,
      kubectl: (args, o = {}) =>
        new Promise((resolve, reject) => {
          const child = execFile(
            bin.kubectl,
            [`--kubeconfig=${kubeconfigPath}`, ...args],
            { timeout: o.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => {
              if (err) reject(new Error(`kubectl ${args.join(" ")}: ${stderr.trim() || err.message}`));
              else resolve(stdout);
            },
          );
          child.stdin?.end(o.input ?? "");
        }),
      async createNamespace(name, labels) {
        await core.createNamespace({ body: { metadata: { name, ...(labels ? { labels } : {}) } } });
        await waitUntil(`ServiceAccount ${name}/default`, hasDefaultSa(name), {
          timeoutMs: 30_000,
          intervalMs: 100,
        });
      },
      pids: () => cp.procs.filter((p) => p.running).map((p) => p.pid),
      stop,
    };
    t?.after(() => stop());
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}
