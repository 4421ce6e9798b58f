/**
 * The node stand-in: what a kubelet, a CNI plugin and a scheduler would do for the test bed, in one
 * process. It registers a Node, binds pods that name no node to it (there is no scheduler), and for
 * each Pod bound to it runs a {@link PodRuntime}: a network namespace on the node's bridge, the
 * containers as processes, and the Pod's status (podIPs, hostIP, phase, Ready) patched so the real
 * EndpointSlice controller publishes it. A Pod being deleted has its processes stopped and its
 * namespace removed, then is deleted for good, as a kubelet would. Service names resolve in every pod
 * through /etc/netns/<netns>/hosts, and ClusterIPs through a userspace service proxy (no kube-proxy).
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Pod,
  type V1Service,
  Watch,
} from "@kubernetes/client-node";
import { ApiForwarder } from "./forwarder.js";
import { writeTrellisShims } from "./images.js";
import type { NodeNetwork, PodNetwork } from "./network.js";
import { PodRuntime } from "./pod.js";
import { ServiceProxy } from "./services.js";

export interface NodeStandInOptions {
  kubeConfig: KubeConfig;
  network: NodeNetwork;
  /** Folder for pod logs, volumes and shims. */
  dir: string;
  /** The API server on 127.0.0.1, which pods reach through a forwarder on the node's address. */
  apiserverPort: number;
  name?: string;
  /** Bind pods that have no spec.nodeName to this node (default true). */
  bindUnscheduled?: boolean;
  log?: (msg: string) => void;
}

/** The outcome of {@link NodeStandIn.exec}. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export class NodeStandIn {
  readonly name: string;
  readonly api: CoreV1Api;
  /** The node's address: pods' gateway, hostIP and where they reach the API server (port 443). */
  readonly address: string;
  private readonly pods = new Map<string, PodRuntime>();
  private readonly services = new Map<string, V1Service>();
  private readonly informers: ListWatch<KubernetesObject>[] = [];
  private readonly discovery: DiscoveryV1Api;
  private readonly serviceProxy: ServiceProxy;
  private readonly pendingStatus = new Map<string, Promise<void>>();
  private readonly dirtyStatus = new Set<string>();
  private readonly forwarder: ApiForwarder;
  private readonly finalizing = new Set<string>();
  private readonly shimDir: string;
  private stopped = false;
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: NodeStandInOptions) {
    this.name = opts.name ?? "trellis-testbed";
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.discovery = opts.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.address = opts.network.addresses.gateway;
    this.shimDir = join(opts.dir, "bin");
    this.log = opts.log ?? ((m) => process.stderr.write(`[node] ${m}\n`));
    this.serviceProxy = new ServiceProxy(opts.network.bridge, opts.apiserverPort, this.log);
    this.forwarder = new ApiForwarder(this.address, opts.apiserverPort);
  }

  /** Creates the bridge, the API forwarder and the Node, then starts watching pods and services. */
  async start(): Promise<void> {
    mkdirSync(this.opts.dir, { recursive: true });
    writeTrellisShims(this.shimDir);
    await this.opts.network.create();
    await this.forwarder.start();
    await this.registerNode();
    const watch = new Watch(this.opts.kubeConfig);
    const mine = `spec.nodeName=${this.name}`;
    const pods = new ListWatch<V1Pod>(
      "/api/v1/pods",
      watch,
      () => this.api.listPodForAllNamespaces({ fieldSelector: mine }),
      false,
      undefined,
      mine,
    );
    pods.on("add", (p) => this.onPod(p));
    pods.on("update", (p) => this.onPod(p));
    pods.on("delete", (p) => void this.onPodGone(p));
    this.informers.push(pods as ListWatch<KubernetesObject>);
    if (this.opts.bindUnscheduled ?? true) {
      const unbound = "spec.nodeName=";
      const pending = new ListWatch<V1Pod>(
        "/api/v1/pods",
        watch,
        () => this.api.listPodForAllNamespaces({ fieldSelector: unbound }),
        false,
        undefined,
        unbound,
      );
      pending.on("add", (p) => void this.bind(p));
      this.informers.push(pending as ListWatch<KubernetesObject>);
    }
    const services = new ListWatch<V1Service>("/api/v1/services", watch, () =>
      this.api.listServiceForAllNamespaces(),
    );
    const slices = new ListWatch<V1EndpointSlice>("/apis/discovery.k8s.io/v1/endpointslices", watch, () =>
      this.discovery.listEndpointSliceForAllNamespaces(),
    );
    slices.on("add", (s) => this.serviceProxy.onSlice(s, false));
    slices.on("update", (s) => this.serviceProxy.onSlice(s, false));
    slices.on("delete", (s) => this.serviceProxy.onSlice(s, true));
    this.informers.push(slices as ListWatch<KubernetesObject>);
    services.on("add", (s) => this.onService(s, false));
    services.on("update", (s) => this.onService(s, false));
    services.on("delete", (s) => this.onService(s, true));
    this.informers.push(services as ListWatch<KubernetesObject>);
    for (const inf of this.informers) {
      // A watch that breaks is restarted after a second; the stand-in lives as long as the cluster.
      inf.on("error", (err) => {
        // An AbortError is ListWatch aborting its own previous request when it (re)starts; restarting
        // on it would abort the next request in turn, forever.
        if (this.stopped || (err as Error)?.name === "AbortError") return;
        this.log(`watch ended with an error, resuming: ${(err as Error)?.message ?? err}`);
        setTimeout(() => void inf.start().catch(() => {}), 1000).unref();
      });
      await inf.start();
    }
  }

  private async registerNode(): Promise<void> {
    const addresses = this.opts.network.addresses;
    await this.api.createNode({
      body: {
        metadata: {
          name: this.name,
          labels: {
            "kubernetes.io/hostname": this.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/zone": "testbed-a",
          },
        },
        spec: { podCIDR: addresses.podCidr, podCIDRs: [addresses.podCidr] },
      },
    });
    const capacity = { cpu: "2", memory: "24Gi", pods: "250" };
    await this.api.patchNodeStatus(
      {
        name: this.name,
        body: {
          status: {
            addresses: [
              { type: "InternalIP", address: this.address },
              { type: "Hostname", address: this.name },
            ],
            capacity,
            allocatable: capacity,
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "TestBedNodeReady",
                message: "the node stand-in is running",
                lastHeartbeatTime: new Date(),
                lastTransitionTime: new Date(),
              },
            ],
            nodeInfo: {
              architecture: "amd64",
              operatingSystem: "linux",
              kubeletVersion: "testbed",
              kubeProxyVersion: "",
              containerRuntimeVersion: "trellis-testbed://processes",
              bootID: "",
              kernelVersion: "",
              machineID: "",
              osImage: "trellis test bed",
              systemUUID: "",
            },
          },
        },
      },
      mergePatch,
    );
  }

  private async bind(pod: V1Pod): Promise<void> {
    const { name, namespace } = pod.metadata ?? {};
    if (!name || !namespace || pod.spec?.nodeName || pod.metadata?.deletionTimestamp) return;
    try {
      await this.api.createNamespacedPodBinding({
        name,
        namespace,
        body: { metadata: { name, namespace }, target: { apiVersion: "v1", kind: "Node", name: this.name } },
      });
    } catch (err) {
      this.log(`binding ${namespace}/${name}: ${(err as Error).message}`);
    }
  }

  private onPod(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? "";
    if (this.stopped) return;
    const existing = this.pods.get(uid);
    if (pod.metadata?.deletionTimestamp) {
      void this.finalize(pod, existing);
      return;
    }
    if (existing) {
      existing.pod = pod;
      return;
    }
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") return;
    const runtime = new PodRuntime(pod, {
      api: this.api,
      network: this.opts.network,
      podDir: join(
        this.opts.dir,
        "pods",
        `${pod.metadata?.namespace}_${pod.metadata?.name}_${uid.slice(0, 8)}`,
      ),
      shimDir: this.shimDir,
      apiHost: this.address,
      apiPort: 443,
      writeHosts: (p, net) => this.writeHosts(p, net),
      onChange: () => this.reportStatus(uid),
      log: this.log,
    });
    this.pods.set(uid, runtime);
    void runtime.start();
  }

  /**
   * Stops the pod's processes (apps, then sidecars, within the deletion's grace period) and network,
   * then removes the Pod object (grace period 0).
   */
  private async finalize(pod: V1Pod, runtime: PodRuntime | undefined): Promise<void> {
    const uid = pod.metadata?.uid ?? "";
    if (runtime) {
      if (this.finalizing.has(uid)) return;
      this.finalizing.add(uid);
      runtime.pod = pod;
      await runtime.stop(pod.metadata?.deletionGracePeriodSeconds);
      this.pods.delete(uid);
      this.finalizing.delete(uid);
    }
    const { name, namespace } = pod.metadata ?? {};
    if (!name || !namespace || this.stopped) return;
    await this.api
      // With a body, the API reads the options from it, not from the query.
      .deleteNamespacedPod({ name, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid } } })
      .catch((err) => {
        if (!/HTTP-Code: (404|409)/.test(String((err as Error).message))) {
          this.log(`deleting ${namespace}/${name}: ${(err as Error).message}`);
        }
      });
  }

  private async onPodGone(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? "";
    const runtime = this.pods.get(uid);
    if (!runtime) return;
    this.pods.delete(uid);
    await runtime.stop(pod.metadata?.deletionGracePeriodSeconds);
  }

  /** Patches the pod's status; changes that arrive during a patch are sent in one more patch. */
  private reportStatus(uid: string): void {
    if (this.stopped) return;
    this.dirtyStatus.add(uid);
    if (this.pendingStatus.has(uid)) return;
    const loop = async () => {
      while (this.dirtyStatus.delete(uid)) {
        const runtime = this.pods.get(uid);
        if (!runtime || this.stopped) break;
        const { name, namespace } = runtime.pod.metadata ?? {};
        if (!name || !namespace) break;
        try {
          await this.api.patchNamespacedPodStatus(
            { name, namespace, body: { status: runtime.status(this.address) } },
            mergePatch,
          );
        } catch (err) {
          if (!/404|not found/i.test((err as Error).message)) {
            this.log(`status of ${namespace}/${name}: ${(err as Error).message}`);
          }
        }
      }
      this.pendingStatus.delete(uid);
    };
    this.pendingStatus.set(uid, loop());
  }

  private onService(svc: V1Service, deleted: boolean): void {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    if (deleted) this.services.delete(key);
    else this.services.set(key, svc);
    this.serviceProxy.onService(svc, deleted);
    for (const runtime of this.pods.values()) {
      if (runtime.net) this.writeHosts(runtime.pod, runtime.net);
    }
  }

  /** /etc/netns/<netns>/hosts: the pod itself and every Service with a ClusterIP, by its DNS names. */
  private writeHosts(pod: V1Pod, net: PodNetwork): void {
    const ns = pod.metadata?.namespace ?? "default";
    const lines = ["127.0.0.1 localhost", "::1 localhost", `${net.ip} ${pod.metadata?.name ?? ""}`];
    for (const svc of this.services.values()) {
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === "None") continue;
      const name = svc.metadata?.name ?? "";
      const sns = svc.metadata?.namespace ?? "";
      const names = [`${name}.${sns}.svc.cluster.local`, `${name}.${sns}.svc`, `${name}.${sns}`];
      if (sns === ns) names.push(name);
      lines.push(`${ip} ${names.join(" ")}`);
    }
    const dir = join("/etc/netns", net.netns);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hosts"), `${lines.join("\n")}\n`);
    // No DNS server: lookups that miss the hosts file fail at once instead of waiting for one.
    writeFileSync(join(dir, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  }

  /** The running pod `namespace/name`, if this node runs it. */
  pod(namespace: string, name: string): PodRuntime | undefined {
    for (const r of this.pods.values()) {
      if (r.pod.metadata?.namespace === namespace && r.pod.metadata?.name === name) return r;
    }
    return undefined;
  }

  /** The network namespace of a running pod (for `ip netns exec`); throws if the pod has none. */
  netnsOf(namespace: string, name: string): string {
    const ns = this.pod(namespace, name)?.netns;
    if (!ns) throw new Error(`pod ${namespace}/${name} has no network namespace on ${this.name}`);
    return ns;
  }

  /** Runs `argv` as root in the pod's network namespace (like `kubectl exec`, bounded by `timeoutMs`). */
  exec(namespace: string, name: string, argv: string[], timeoutMs = 30_000): Promise<ExecResult> {
    const netns = this.netnsOf(namespace, name);
    return new Promise((resolve) => {
      execFile("ip", ["netns", "exec", netns, ...argv], { timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** The log (stdout and stderr) of a container of a pod on this node that is not deleted yet. */
  logs(namespace: string, name: string, container: string): string {
    const runtime = this.pod(namespace, name);
    if (!runtime) throw new Error(`pod ${namespace}/${name} is not on ${this.name}`);
    try {
      return readFileSync(join(runtime.podDir, `${container}.log`), "utf8");
    } catch {
      return "";
    }
  }

  /** Resolves once the node's service proxy can forward the Service's ClusterIP to a ready endpoint. */
  waitForServiceEndpoints(namespace: string, service: string, timeoutMs = 60_000): Promise<void> {
    return this.serviceProxy.waitForEndpoints(namespace, service, timeoutMs);
  }

  /** Network namespaces of the pods running now. */
  netnsList(): string[] {
    return [...this.pods.values()].flatMap((r) => (r.netns ? [r.netns] : []));
  }

  /** Stops watching, stops every pod, the forwarder and removes the bridge. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.informers.map((i) => i.stop().catch(() => {})));
    await Promise.all([...this.pods.values()].map((r) => r.stop().catch(() => {})));
    this.pods.clear();
    await this.serviceProxy.stop();
    await this.forwarder.stop();
    await this.opts.network.destroy();
  }
}
