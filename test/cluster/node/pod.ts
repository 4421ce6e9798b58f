/**
 * One pod on the node stand-in, run as a kubelet 1.29+ runs it: its network namespace, volumes and
 * containers as processes. Init containers run in order: a regular one must exit 0 before the next
 * starts; a sidecar (an init container with `restartPolicy: Always`) is started and the next waits
 * until it has started (passed its startupProbe, or runs, without one). Then every app container
 * starts. Sidecars run beside the apps and are restarted whenever they exit; app containers per the
 * pod's restartPolicy. When the apps are done for good (Never, or OnFailure after exit 0), the sidecars
 * are stopped in reverse order and the pod ends Succeeded or Failed, its network released. On deletion
 * the apps get SIGTERM first, then the sidecars in reverse order. Each container runs as `ip netns exec
 * <ns> sh <script> argv`, the script mounting its volumes and switching user (root unless its
 * securityContext names one), so an init container's iptables rules apply for real. Every change is
 * reported through `onChange`; the stand-in turns {@link PodRuntime.status} into the Pod's status.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CoreV1Api, V1Container, V1Pod, V1PodStatus } from "@kubernetes/client-node";
import { type Proc, startProc } from "../harness/procs.js";
import { type ContainerHost, ContainerRuntime, type Waiting } from "./container.js";
import { containerEnv, type EnvRefs, expand, resolveEnvRefs } from "./env.js";
import { argvFor, recipeFor } from "./images.js";
import type { NodeNetwork, PodNetwork } from "./network.js";
import { prepareVolumes } from "./volumes.js";

export { expand };

/** What the pod runtime needs from its node. */
export interface PodHost {
  api: CoreV1Api;
  network: NodeNetwork;
  /** The folder for this pod's logs and volumes. */
  podDir: string;
  shimDir: string;
  /** Where pods reach the API server (the node's forwarder), for KUBERNETES_SERVICE_*. */
  apiHost: string;
  apiPort: number;
  /** Writes /etc/netns/<netns>/hosts for the pod. */
  writeHosts(pod: V1Pod, net: PodNetwork): void;
  onChange(): void;
  log(msg: string): void;
}

/** The longest grace period the stand-in waits before SIGKILL, whatever the pod asks for. */
const MAX_GRACE_MS = 10_000;
/** The least a sidecar gets to stop once the pod's grace period is used up (as a kubelet's minimum). */
const MIN_GRACE_MS = 2_000;

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class PodRuntime {
  net?: PodNetwork;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" = "Pending";
  readonly startTime = now();
  private readonly containers: ContainerRuntime[];
  /** Deleting: no more starts or restarts. */
  private stopping = false;
  /** Deleting or completing: the containers are halted and being stopped. */
  private ending = false;
  private initialized = false;
  private podIp?: string;
  private volumes = new Map<string, string>();
  private envRefs = new Map<string, EnvRefs>();
  private failure?: string;
  private readonly conditionTimes = new Map<string, { ok: boolean; since: string }>();
  private readonly waiters = new Set<() => void>();

  constructor(
    public pod: V1Pod,
    private readonly host: PodHost,
  ) {
    const containerHost: ContainerHost = {
      spawn: (spec) => this.spawn(spec),
      probeTarget: (spec) =>
        this.net ? { podIp: this.net.ip, netns: this.net.netns, container: spec } : undefined,
      killGraceMs: (probe) => this.graceMs(probe.terminationGracePeriodSeconds),
      exited: (c, code) => this.exited(c, code),
      changed: () => this.changed(),
      log: (msg) => this.host.log(`${this.key}/${msg}`),
    };
    this.containers = [
      ...(pod.spec?.initContainers ?? []).map(
        (spec) =>
          new ContainerRuntime(spec, spec.restartPolicy === "Always" ? "sidecar" : "init", containerHost),
      ),
      ...(pod.spec?.containers ?? []).map((spec) => new ContainerRuntime(spec, "app", containerHost)),
    ];
  }

  /** Where the pod's logs (`<container>.log`), scripts and volumes live. */
  get podDir(): string {
    return this.host.podDir;
  }

  get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** The pod's network namespace while it has one (until it is deleted or has completed). */
  get netns(): string | undefined {
    return this.net?.netns;
  }

  private of(kind: ContainerRuntime["kind"]): ContainerRuntime[] {
    return this.containers.filter((c) => c.kind === kind);
  }

  /** Reports a change to the node and wakes what {@link until} waits on. */
  private changed(): void {
    this.host.onChange();
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves once `ok()` holds, or the pod is ending. */
  private until(ok: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.ending && !ok()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sets up the network and volumes, runs the init containers in order, then the app containers. */
  async start(): Promise<void> {
    try {
      const net = await this.host.network.addPod();
      this.net = net;
      this.podIp = net.ip;
      // Deleted while the network was being made: stop() found none to remove.
      if (this.stopping) return await this.releaseNetwork();
      this.changed();
      mkdirSync(this.host.podDir, { recursive: true });
      this.host.writeHosts(this.pod, net);
      this.volumes = await prepareVolumes(this.host.api, this.pod, this.host.podDir);
      this.envRefs = await resolveEnvRefs(
        this.host.api,
        this.pod,
        this.containers.map((c) => c.spec),
      );
    } catch (err) {
      this.failure = `pod setup failed: ${(err as Error).message}`;
      this.phase = "Failed";
      this.host.log(`${this.key}: ${this.failure}`);
      this.changed();
      return;
    }
    for (const c of this.containers.filter((c) => c.kind !== "app")) {
      if (this.ending || !c.launch()) return;
      // A sidecar needs to have started; a regular init container to have exited 0 (it is retried
      // until it does, unless restartPolicy is Never, which fails the pod).
      await this.until(() => (c.kind === "sidecar" ? c.started : c.ready));
      if (this.ending) return;
    }
    this.initialized = true;
    this.phase = "Running";
    for (const c of this.of("app")) c.launch();
    this.changed();
  }

  /** A container's run ended: restart it, or see whether the pod is done. */
  private exited(c: ContainerRuntime, code: number): void {
    if (this.ending) return;
    const policy = this.pod.spec?.restartPolicy ?? "Always";
    if (c.kind === "sidecar") {
      c.restartLater();
    } else if (c.kind === "init") {
      if (code === 0) return;
      if (policy !== "Never") {
        c.restartLater();
        return;
      }
      // The apps never ran, so the pod ends Failed.
      this.host.log(`${this.key}: init container ${c.name} exited ${code} under restartPolicy Never`);
      void this.complete();
    } else if (policy === "Always" || (policy === "OnFailure" && code !== 0)) {
      c.restartLater();
    } else {
      const done = (a: ContainerRuntime) =>
        !a.running && a.lastExit !== undefined && (policy === "Never" || a.lastExit.code === 0);
      if (this.of("app").every(done)) void this.complete();
    }
  }

  /**
   * The pod's work is over (its apps are done, or an init container failed under Never): the sidecars
   * stop in reverse order, then the phase becomes Succeeded when every app container exited 0 (however
   * the sidecars ended), Failed otherwise, and the network is released as a kubelet removes the sandbox.
   */
  private async complete(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    for (const c of this.containers) c.halt();
    this.changed();
    await this.stopInOrder(this.graceMs());
    if (this.stopping) return;
    const failed = this.of("app").some((a) => a.lastExit?.code !== 0);
    this.phase = failed ? "Failed" : "Succeeded";
    await this.releaseNetwork();
    this.changed();
  }

  /** App and regular init containers first (together), then the sidecars one by one, last first. */
  private async stopInOrder(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    const left = (min: number) => Math.max(min, deadline - Date.now());
    await Promise.all(this.containers.filter((c) => c.kind !== "sidecar").map((c) => c.stop(left(0))));
    for (const s of this.of("sidecar").reverse()) await s.stop(left(MIN_GRACE_MS));
  }

  /** The grace period in ms: the one given, else the pod's terminationGracePeriodSeconds, at most 10 s. */
  private graceMs(seconds?: number | null): number {
    const s = seconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.min(MAX_GRACE_MS, s * 1000);
  }

  private async releaseNetwork(): Promise<void> {
    const net = this.net;
    this.net = undefined;
    if (net) await this.host.network.removePod(net);
  }

  /**
   * Stops the pod for its deletion: the app containers get SIGTERM first, the sidecars after they
   * exited, in reverse order (SIGKILL after the grace period, at most 10 s); then the network goes.
   */
  async stop(graceSeconds?: number | null): Promise<void> {
    this.stopping = true;
    this.ending = true;
    for (const c of this.containers) c.halt();
    this.changed();
    await this.stopInOrder(this.graceMs(graceSeconds));
    await this.releaseNetwork();
  }

  private userOf(c: V1Container): { uid: number; gid: number } {
    const podSc = this.pod.spec?.securityContext;
    const uid = c.securityContext?.runAsUser ?? podSc?.runAsUser ?? 0;
    const gid = c.securityContext?.runAsGroup ?? podSc?.runAsGroup ?? uid;
    return { uid, gid };
  }

  /** Starts one process of a container, or says why it cannot. */
  private spawn(spec: V1Container): Proc | Waiting {
    const net = this.net;
    if (!net || this.ending) return { reason: "PodTerminating", message: "the pod is ending" };
    const recipe = recipeFor(spec.image ?? "", this.host.shimDir);
    if (!recipe)
      return { reason: "ImageNotMapped", message: `the test bed has no mapping for ${spec.image}` };
    const { uid, gid } = this.userOf(spec);
    // The Pod object may not show the status we patched yet; the runtime knows the addresses.
    const pod: V1Pod = {
      ...this.pod,
      status: {
        ...this.pod.status,
        hostIP: this.host.network.addresses.gateway,
        podIP: net.ip,
        podIPs: [{ ip: net.ip }],
      },
    };
    const env = containerEnv(spec, {
      pod,
      refs: this.envRefs.get(spec.name),
      path: recipe.path,
      uid,
      apiHost: this.host.apiHost,
      apiPort: this.host.apiPort,
    });
    const argv = argvFor(recipe, spec.command, spec.args).map((a) => expand(a, env));
    if (argv.length === 0)
      return { reason: "CreateContainerError", message: "no command and the image has no entrypoint" };
    const lines = ["set -e"];
    for (const m of spec.volumeMounts ?? []) {
      const source = this.volumes.get(m.name);
      if (!source) continue;
      lines.push(`mkdir -p ${quote(m.mountPath)}`, `mount --bind ${quote(source)} ${quote(m.mountPath)}`);
    }
    if (spec.workingDir) lines.push(`cd ${quote(spec.workingDir)}`);
    lines.push(
      uid === 0 && gid === 0
        ? `exec "$@"`
        : // A change of user clears the parent-death signal, so it is set again after it.
          `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups --pdeathsig KILL -- "$@"`,
    );
    const script = join(this.host.podDir, `${spec.name}.sh`);
    writeFileSync(script, `${lines.join("\n")}\n`, { mode: 0o700 });
    return startProc(`${this.key}/${spec.name}`, "ip", ["netns", "exec", net.netns, "sh", script, ...argv], {
      logPath: join(this.host.podDir, `${spec.name}.log`),
      env,
    });
  }

  /** The Pod status this runtime reports (phase, IPs, conditions, container states). */
  status(hostIp: string): V1PodStatus {
    const terminal = this.phase === "Succeeded" || this.phase === "Failed";
    // Sidecars count toward readiness; regular init containers are done by then.
    const containersReady =
      this.phase === "Running" && this.containers.every((c) => c.kind === "init" || c.ready);
    // A condition's lastTransitionTime moves only when its status does.
    const cond = (type: string, ok: boolean) => {
      const prev = this.conditionTimes.get(type);
      const since = prev && prev.ok === ok ? prev.since : now();
      this.conditionTimes.set(type, { ok, since });
      return {
        type,
        status: ok ? "True" : "False",
        lastTransitionTime: new Date(since),
        ...(!ok && terminal && type.endsWith("Ready") ? { reason: "PodCompleted" } : {}),
      };
    };
    const ip = this.podIp;
    return {
      phase: this.phase,
      hostIP: hostIp,
      hostIPs: [{ ip: hostIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: new Date(this.startTime),
      ...(this.failure ? { message: this.failure, reason: "TestBedError" } : {}),
      conditions: [
        cond("PodScheduled", true),
        cond("Initialized", this.initialized),
        cond("ContainersReady", containersReady),
        cond("Ready", containersReady),
      ],
      initContainerStatuses: this.containers.filter((c) => c.kind !== "app").map((c) => c.status()),
      containerStatuses: this.of("app").map((c) => c.status()),
    };
  }
}
