/**
 * One pod on the node stand-in: its network namespace, volumes and containers as processes. Init
 * containers run first, one after another, and must exit 0; then every app container starts. Each
 * container runs as `ip netns exec <ns> sh -c <mounts; cd; switch user; exec argv>`, as root unless its
 * securityContext names a user, so an init container's iptables rules apply for real. Containers that
 * exit are restarted per restartPolicy with a capped backoff. The pod reports every change through
 * `onChange`; the stand-in turns {@link PodRuntime.status} into the Pod's status.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type {
  CoreV1Api,
  V1Container,
  V1ContainerStatus,
  V1EnvVar,
  V1Pod,
  V1PodStatus,
  V1Probe,
} from "@kubernetes/client-node";
import { type Proc, startProc } from "../harness/procs.js";
import { argvFor, recipeFor } from "./images.js";
import type { NodeNetwork, PodNetwork } from "./network.js";
import { runProbe } from "./probes.js";
import { fieldValue, prepareVolumes } from "./volumes.js";

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

interface ContainerState {
  spec: V1Container;
  init: boolean;
  proc?: Proc;
  restarts: number;
  startedAt?: string;
  lastExit?: { code: number; at: string; reason: string; startedAt: string };
  waiting?: { reason: string; message?: string };
  /** Whether the readiness probe passed last (true without a probe). */
  probeOk: boolean;
  probeTimer?: NodeJS.Timeout;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `$(VAR)` expansion as the kubelet does it; `$$(VAR)` escapes. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) =>
    m === "$$" ? "$" : name !== undefined && name in env ? (env[name] ?? "") : m,
  );
}

export class PodRuntime {
  net?: PodNetwork;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" = "Pending";
  readonly startTime = now();
  private readonly containers: ContainerState[];
  private stopping = false;
  private initialized = false;
  private volumes = new Map<string, string>();
  private readonly envRefs = new Map<
    string,
    { fromSources: Record<string, string>; keys: Record<string, string> }
  >();
  private failure?: string;
  private readonly conditionTimes = new Map<string, { ok: boolean; since: string }>();

  constructor(
    public pod: V1Pod,
    private readonly host: PodHost,
  ) {
    this.containers = [
      ...(pod.spec?.initContainers ?? []).map((spec) => ({ spec, init: true, restarts: 0, probeOk: true })),
      ...(pod.spec?.containers ?? []).map((spec) => ({ spec, init: false, restarts: 0, probeOk: true })),
    ];
    for (const c of this.containers) c.waiting = { reason: "PodInitializing" };
  }

  /** Where the pod's logs (`<container>.log`), scripts and volumes live. */
  get podDir(): string {
    return this.host.podDir;
  }

  get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Sets up the network and volumes, runs the init containers, then starts the app containers. */
  async start(): Promise<void> {
    try {
      this.net = await this.host.network.addPod();
      this.host.onChange();
      mkdirSync(this.host.podDir, { recursive: true });
      this.host.writeHosts(this.pod, this.net);
      this.volumes = await prepareVolumes(this.host.api, this.pod, this.host.podDir);
      await this.resolveEnvRefs();
    } catch (err) {
      this.fail(`pod setup failed: ${(err as Error).message}`);
      return;
    }
    for (const c of this.containers.filter((c) => c.init)) {
      if (this.stopping) return;
      const ok = await this.runInit(c);
      if (!ok) return;
    }
    this.initialized = true;
    for (const c of this.containers.filter((c) => !c.init)) this.launch(c);
    this.phase = "Running";
    this.host.onChange();
  }

  private fail(message: string): void {
    this.failure = message;
    this.phase = "Failed";
    this.host.log(`${this.key}: ${message}`);
    this.host.onChange();
  }

  /** Runs an init container to completion, retrying with backoff unless restartPolicy is Never. */
  private async runInit(c: ContainerState): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const proc = this.launch(c);
      if (!proc) return false;
      const { code } = await proc.exited;
      if (this.stopping) return false;
      if (code === 0) return true;
      if (this.pod.spec?.restartPolicy === "Never") {
        this.fail(`init container ${c.spec.name} exited ${code}`);
        return false;
      }
      c.restarts++;
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }

  private env(c: V1Container): Record<string, string> {
    const recipe = recipeFor(c.image ?? "", this.host.shimDir);
    const uid = this.userOf(c).uid;
    const base: Record<string, string> = {
      PATH: [...(recipe?.path ?? []), process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"].join(":"),
      HOME: uid === 0 ? "/root" : "/",
      HOSTNAME: this.pod.metadata?.name ?? "",
      KUBERNETES_SERVICE_HOST: this.host.apiHost,
      KUBERNETES_SERVICE_PORT: String(this.host.apiPort),
      KUBERNETES_SERVICE_PORT_HTTPS: String(this.host.apiPort),
      KUBERNETES_PORT: `tcp://${this.host.apiHost}:${this.host.apiPort}`,
    };
    const env = { ...base };
    // The Pod object may not show the status we patched yet; the runtime knows the addresses.
    const pod: V1Pod = {
      ...this.pod,
      status: {
        ...this.pod.status,
        hostIP: this.host.network.addresses.gateway,
        ...(this.net ? { podIP: this.net.ip, podIPs: [{ ip: this.net.ip }] } : {}),
      },
    };
    const refs = this.envRefs.get(c.name);
    Object.assign(env, refs?.fromSources);
    for (const e of c.env ?? ([] as V1EnvVar[])) {
      if (e.valueFrom?.fieldRef) env[e.name] = fieldValue(pod, e.valueFrom.fieldRef.fieldPath);
      else if (e.valueFrom) {
        // configMap/secret keys were read at pod start; resource fields are not supported.
        const v = refs?.keys[e.name];
        if (v !== undefined) env[e.name] = v;
      } else env[e.name] = expand(e.value ?? "", env);
    }
    return env;
  }

  /** Reads the ConfigMap and Secret values that containers' env and envFrom name. */
  private async resolveEnvRefs(): Promise<void> {
    const namespace = this.pod.metadata?.namespace ?? "default";
    const cache = new Map<string, Record<string, string> | undefined>();
    const read = async (kind: "configMap" | "secret", name: string) => {
      const key = `${kind}/${name}`;
      if (!cache.has(key)) {
        const data =
          kind === "configMap"
            ? await this.host.api
                .readNamespacedConfigMap({ name, namespace })
                .then((cm) => cm.data ?? {})
                .catch(() => undefined)
            : await this.host.api
                .readNamespacedSecret({ name, namespace })
                .then((sec) =>
                  Object.fromEntries(
                    Object.entries(sec.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
                  ),
                )
                .catch(() => undefined);
        cache.set(key, data);
      }
      return cache.get(key);
    };
    for (const { spec: c } of this.containers) {
      const fromSources: Record<string, string> = {};
      for (const src of c.envFrom ?? []) {
        const data = src.configMapRef
          ? await read("configMap", src.configMapRef.name ?? "")
          : src.secretRef
            ? await read("secret", src.secretRef.name ?? "")
            : undefined;
        const optional = src.configMapRef?.optional ?? src.secretRef?.optional ?? false;
        if (!data && !optional) throw new Error(`container ${c.name}: envFrom source not found`);
        for (const [k, v] of Object.entries(data ?? {})) fromSources[`${src.prefix ?? ""}${k}`] = v;
      }
      const keys: Record<string, string> = {};
      for (const e of c.env ?? []) {
        const cm = e.valueFrom?.configMapKeyRef;
        const sec = e.valueFrom?.secretKeyRef;
        const ref = cm ?? sec;
        if (!ref) continue;
        const v = (await read(cm ? "configMap" : "secret", ref.name ?? ""))?.[ref.key];
        if (v !== undefined) keys[e.name] = v;
        else if (!ref.optional)
          throw new Error(`container ${c.name}: env ${e.name}: key ${ref.key} of ${ref.name} not found`);
      }
      this.envRefs.set(c.name, { fromSources, keys });
    }
  }

  private userOf(c: V1Container): { uid: number; gid: number } {
    const podSc = this.pod.spec?.securityContext;
    const uid = c.securityContext?.runAsUser ?? podSc?.runAsUser ?? 0;
    const gid = c.securityContext?.runAsGroup ?? podSc?.runAsGroup ?? uid;
    return { uid, gid };
  }

  /** Starts one container's process; on an image it cannot map, leaves it waiting. */
  private launch(c: ContainerState): Proc | undefined {
    if (!this.net || this.stopping) return undefined;
    const recipe = recipeFor(c.spec.image ?? "", this.host.shimDir);
    if (!recipe) {
      c.waiting = { reason: "ImageNotMapped", message: `the test bed has no mapping for ${c.spec.image}` };
      this.host.log(`${this.key}/${c.spec.name}: ${c.waiting.message}`);
      this.host.onChange();
      return undefined;
    }
    const env = this.env(c.spec);
    const argv = argvFor(recipe, c.spec.command, c.spec.args).map((a) => expand(a, env));
    if (argv.length === 0) {
      c.waiting = { reason: "CreateContainerError", message: "no command and the image has no entrypoint" };
      this.host.onChange();
      return undefined;
    }
    const lines = ["set -e"];
    for (const m of c.spec.volumeMounts ?? []) {
      const source = this.volumes.get(m.name);
      if (!source) continue;
      lines.push(`mkdir -p ${quote(m.mountPath)}`, `mount --bind ${quote(source)} ${quote(m.mountPath)}`);
    }
    if (c.spec.workingDir) lines.push(`cd ${quote(c.spec.workingDir)}`);
    const { uid, gid } = this.userOf(c.spec);
    lines.push(
      uid === 0 && gid === 0
        ? `exec "$@"`
        : // A change of user clears the parent-death signal, so it is set again after it.
          `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups --pdeathsig KILL -- "$@"`,
    );
    const script = join(this.host.podDir, `${c.spec.name}.sh`);
    writeFileSync(script, `${lines.join("\n")}\n`, { mode: 0o700 });
    const proc = startProc(
      `${this.key}/${c.spec.name}`,
      "ip",
      ["netns", "exec", this.net.netns, "sh", script, ...argv],
      { logPath: join(this.host.podDir, `${c.spec.name}.log`), env },
    );
    c.proc = proc;
    c.startedAt = now();
    c.waiting = undefined;
    this.host.onChange();
    proc.exited.then(({ code, signal }) => this.exited(c, proc, code ?? (signal ? 128 : 1)));
    if (!c.init && c.spec.readinessProbe) this.probe(c, proc, c.spec.readinessProbe);
    return proc;
  }

  /**
   * Probes readiness while the process runs: first after initialDelaySeconds, then every
   * periodSeconds, at most 2 s apart so tests need not wait for a kubelet's 10 s default.
   */
  private probe(c: ContainerState, proc: Proc, probe: V1Probe): void {
    c.probeOk = false;
    let failures = 0;
    const period = Math.min(probe.periodSeconds ?? 10, 2) * 1000;
    const tick = async () => {
      if (c.proc !== proc || !proc.running || this.stopping || !this.net) return;
      const ok = await runProbe(probe, { podIp: this.net.ip, netns: this.net.netns, container: c.spec });
      failures = ok ? 0 : failures + 1;
      const ready = ok || (c.probeOk && failures < (probe.failureThreshold ?? 3));
      if (ready !== c.probeOk) {
        c.probeOk = ready;
        this.host.onChange();
      }
      if (c.proc === proc && proc.running && !this.stopping) c.probeTimer = setTimeout(tick, period).unref();
    };
    c.probeTimer = setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000).unref();
  }

  private exited(c: ContainerState, proc: Proc, code: number): void {
    if (c.proc !== proc) return;
    c.lastExit = {
      code,
      at: now(),
      reason: code === 0 ? "Completed" : "Error",
      startedAt: c.startedAt ?? now(),
    };
    clearTimeout(c.probeTimer);
    c.proc = undefined;
    this.host.log(`${this.key}/${c.spec.name} exited ${code}`);
    if (this.stopping || c.init) {
      this.host.onChange();
      return;
    }
    const policy = this.pod.spec?.restartPolicy ?? "Always";
    if (policy === "Always" || (policy === "OnFailure" && code !== 0)) {
      c.restarts++;
      c.waiting = { reason: "CrashLoopBackOff" };
      const delay = Math.min(10_000, 500 * 2 ** Math.min(c.restarts, 5));
      setTimeout(() => this.launch(c), delay).unref();
    } else if (this.containers.every((x) => x.init || !x.proc)) {
      const failed = this.containers.some((x) => !x.init && (x.lastExit?.code ?? 0) !== 0);
      this.phase = failed ? "Failed" : "Succeeded";
    }
    this.host.onChange();
  }

  /** Stops every container (SIGTERM, SIGKILL after the grace period, at most 10 s) and the network. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.containers) clearTimeout(c.probeTimer);
    const grace = Math.min(10, this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    await Promise.all(this.containers.map((c) => c.proc?.stop(grace)));
    if (this.net) await this.host.network.removePod(this.net);
  }

  /** The pod's network namespace, once it exists. */
  get netns(): string | undefined {
    return this.net?.netns;
  }

  private containerStatus(c: ContainerState): V1ContainerStatus {
    const running = Boolean(c.proc?.running);
    const last = c.lastExit
      ? {
          terminated: {
            exitCode: c.lastExit.code,
            reason: c.lastExit.reason,
            startedAt: new Date(c.lastExit.startedAt),
            finishedAt: new Date(c.lastExit.at),
          },
        }
      : {};
    const state = running
      ? { running: { startedAt: new Date(c.startedAt ?? now()) } }
      : c.waiting
        ? { waiting: c.waiting }
        : last;
    return {
      name: c.spec.name,
      image: c.spec.image ?? "",
      imageID: "",
      ready: running && !c.init && c.probeOk,
      started: running,
      restartCount: c.restarts,
      state,
      ...(c.lastExit && running ? { lastState: last } : {}),
    };
  }

  /** The Pod status this runtime reports (phase, IPs, conditions, container states). */
  status(hostIp: string): V1PodStatus {
    const apps = this.containers.filter((c) => !c.init);
    const containersReady = this.phase === "Running" && apps.every((c) => c.proc?.running && c.probeOk);
    // A condition's lastTransitionTime moves only when its status does.
    const cond = (type: string, ok: boolean) => {
      const prev = this.conditionTimes.get(type);
      const since = prev && prev.ok === ok ? prev.since : now();
      this.conditionTimes.set(type, { ok, since });
      return { type, status: ok ? "True" : "False", lastTransitionTime: new Date(since) };
    };
    const ip = this.net?.ip;
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
      initContainerStatuses: this.containers.filter((c) => c.init).map((c) => this.containerStatus(c)),
      containerStatuses: apps.map((c) => this.containerStatus(c)),
    };
  }
}
