/**
 * One container of a pod on the node stand-in, across its restarts: its process, its probes and its
 * status, as a kubelet keeps them. A run is "started" once its startupProbe passed (at once without
 * one); only then do its readiness and liveness probes run. A startup or liveness probe failing
 * failureThreshold times in a row kills the process (SIGTERM, SIGKILL after the grace period); whether
 * an exited container runs again is the pod's decision (its restartPolicy, or always for a sidecar),
 * carried out by {@link ContainerRuntime.restartLater} with a backoff from 1 s doubling up to 10 s.
 * Regular init containers have no probes (the API server refuses them).
 */
import { constants } from "node:os";
import type { V1Container, V1ContainerStatus, V1Probe } from "@kubernetes/client-node";
import type { Proc } from "../harness/procs.js";
import { type ProbeTarget, type ProbeWorker, startProbe } from "./probes.js";

/** A regular init container, an init container with `restartPolicy: Always`, or an app container. */
export type ContainerKind = "init" | "sidecar" | "app";

/** Why a container is not running, as in `state.waiting`. */
export interface Waiting {
  reason: string;
  message?: string;
}

/** What a container needs from its pod. */
export interface ContainerHost {
  /** Starts a process for the container, or says why it cannot (it then waits with that reason). */
  spawn(spec: V1Container): Proc | Waiting;
  /** Where probes go; undefined once the pod has no network. */
  probeTarget(spec: V1Container): ProbeTarget | undefined;
  /** The grace period (ms) between SIGTERM and SIGKILL when a failed probe kills the container. */
  killGraceMs(probe: V1Probe): number;
  /** Called once per run, after its process exited: the pod restarts the container or leaves it. */
  exited(c: ContainerRuntime, code: number): void;
  /** Called on every change of the container's status. */
  changed(): void;
  log(msg: string): void;
}

interface Exit {
  code: number;
  reason: "Completed" | "Error";
  startedAt: string;
  finishedAt: string;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/** The exit code a runtime reports: the process's own, or 128 + the signal that ended it. */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export class ContainerRuntime {
  proc?: Proc;
  /** Runs after the first, as `restartCount`. */
  restarts = 0;
  lastExit?: Exit;
  waiting?: Waiting = { reason: "PodInitializing" };
  /** Whether the current run passed its startup probe (at once without one). */
  started = false;
  private readinessOk = false;
  private startedAt?: string;
  private workers: ProbeWorker[] = [];
  private restartTimer?: NodeJS.Timeout;
  private halted = false;

  constructor(
    readonly spec: V1Container,
    readonly kind: ContainerKind,
    private readonly host: ContainerHost,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return Boolean(this.proc?.running);
  }

  /**
   * A regular init container is ready once it completed; the others while they run, have started
   * and pass their readiness probe (or have none).
   */
  get ready(): boolean {
    if (this.kind === "init") return !this.running && this.lastExit?.code === 0;
    return this.running && this.started && this.readinessOk;
  }

  /** Starts a run; false when the container cannot start (it is left waiting with the reason). */
  launch(): boolean {
    if (this.halted) return false;
    const proc = this.host.spawn(this.spec);
    if (!("pid" in proc)) {
      this.waiting = proc;
      this.host.log(`${this.name}: ${proc.reason}: ${proc.message ?? ""}`);
      this.host.changed();
      return false;
    }
    this.proc = proc;
    this.startedAt = now();
    this.waiting = undefined;
    this.started = false;
    this.readinessOk = false;
    proc.exited.then(({ code, signal }) => this.onExit(proc, exitCode(code, signal)));
    const startup = this.kind === "init" ? undefined : this.spec.startupProbe;
    if (startup) {
      const worker = this.watch(startup, proc, (ok, streak) => {
        if (ok) {
          worker?.stop();
          this.onStarted(proc);
        } else if (streak >= (startup.failureThreshold ?? 3)) {
          this.kill(proc, startup, `startup probe failed ${streak} times`);
        }
      });
    } else {
      this.onStarted(proc);
    }
    this.host.changed();
    return true;
  }

  /** The run has started: readiness and liveness probes begin. */
  private onStarted(proc: Proc): void {
    this.started = true;
    const { readinessProbe: readiness, livenessProbe: liveness } = this.kind === "init" ? {} : this.spec;
    if (readiness) {
      this.watch(readiness, proc, (ok, streak) => {
        const next = ok
          ? this.readinessOk || streak >= (readiness.successThreshold ?? 1)
          : this.readinessOk && streak < (readiness.failureThreshold ?? 3);
        if (next === this.readinessOk) return;
        this.readinessOk = next;
        this.host.changed();
      });
    } else {
      this.readinessOk = true;
    }
    if (liveness) {
      this.watch(liveness, proc, (ok, streak) => {
        if (!ok && streak >= (liveness.failureThreshold ?? 3))
          this.kill(proc, liveness, `liveness probe failed ${streak} times`);
      });
    }
    this.host.changed();
  }

  private watch(
    probe: V1Probe,
    proc: Proc,
    report: (ok: boolean, streak: number) => void,
  ): ProbeWorker | undefined {
    const target = this.host.probeTarget(this.spec);
    if (!target) return undefined;
    const worker = startProbe(probe, target, (ok, streak) => {
      if (this.proc === proc && !this.halted) report(ok, streak);
    });
    this.workers.push(worker);
    return worker;
  }

  private stopWorkers(): void {
    for (const w of this.workers) w.stop();
    this.workers = [];
  }

  /** A failed probe: SIGTERM, SIGKILL after the grace period; the exit then runs its course. */
  private kill(proc: Proc, probe: V1Probe, why: string): void {
    this.stopWorkers();
    this.host.log(`${this.name}: ${why}, killing it`);
    void proc.stop(this.host.killGraceMs(probe));
  }

  private onExit(proc: Proc, code: number): void {
    if (this.proc !== proc) return;
    this.stopWorkers();
    this.proc = undefined;
    this.started = false;
    this.readinessOk = false;
    this.lastExit = {
      code,
      reason: code === 0 ? "Completed" : "Error",
      startedAt: this.startedAt ?? now(),
      finishedAt: now(),
    };
    this.host.log(`${this.name} exited ${code}`);
    if (!this.halted) this.host.exited(this, code);
    this.host.changed();
  }

  /** Runs the container again after the backoff (1 s, doubling up to 10 s), unless halted first. */
  restartLater(): void {
    if (this.halted) return;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.restarts + 1, 5));
    this.waiting = { reason: "CrashLoopBackOff", message: `back-off ${delay} ms restarting ${this.name}` };
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      this.launch();
    }, delay).unref();
  }

  /** No more runs, restarts or probes; a running process keeps running until {@link stop}. */
  halt(): void {
    this.halted = true;
    clearTimeout(this.restartTimer);
    this.stopWorkers();
    if (!this.running && this.lastExit) this.waiting = undefined;
  }

  /** Halts the container and ends its process: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.halt();
    await this.proc?.stop(graceMs);
  }

  /** `containerStatuses[]` / `initContainerStatuses[]` as a kubelet reports them. */
  status(): V1ContainerStatus {
    const exit = this.lastExit;
    const terminated = exit
      ? {
          terminated: {
            exitCode: exit.code,
            reason: exit.reason,
            startedAt: new Date(exit.startedAt),
            finishedAt: new Date(exit.finishedAt),
          },
        }
      : undefined;
    const running = this.running;
    const state = running
      ? { running: { startedAt: new Date(this.startedAt ?? now()) } }
      : this.waiting
        ? { waiting: this.waiting }
        : (terminated ?? { waiting: { reason: "PodInitializing" } });
    return {
      name: this.name,
      image: this.spec.image ?? "",
      imageID: "",
      ready: this.ready,
      started: running && this.started,
      restartCount: this.restarts,
      state,
      ...(terminated && state !== terminated ? { lastState: terminated } : {}),
    };
  }
}
