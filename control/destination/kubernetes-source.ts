/**
 * The Kubernetes source: informers (control/k8s) on Services, EndpointSlices, Pods, ServiceProfiles and
 * TrafficSplits, all namespaces, each restarted with backoff when it fails. Any event schedules a
 * rebuild (debounced) of the whole snapshot from the informers' caches through the pure translation in
 * kubernetes.ts, so repeated events after a re-list change nothing.
 *
 * open() resolves once the Service, EndpointSlice and Pod informers have listed once (a snapshot
 * without them would announce no endpoints); the CRD informers join when they can (a missing CRD is
 * logged and retried, and its kind is simply empty meanwhile).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { type Logger, logger } from "../../lib/log.js";
import { RestartingInformer } from "../k8s/informer.js";
import { listWatches } from "../k8s/resources.js";
import { describe } from "./errors.js";
import { type KubernetesObjects, translate } from "./kubernetes.js";
import { clusterState } from "./model.js";
import type { Problem } from "./resources.js";
import { MemorySource } from "./source.js";

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  clusterDomain: string;
  /** Wait this long after an event before rebuilding (a rollout is a burst of events). */
  debounceMs?: number;
  /** The informers' first wait after a failure (control/k8s's default when absent). */
  backoffInitialMs?: number;
  /** The informers' longest wait between restarts (control/k8s's default when absent). */
  backoffMaxMs?: number;
  log?: Logger;
}

export const DEFAULT_KUBERNETES_DEBOUNCE_MS = 20;

type Kind = keyof KubernetesObjects;
const KINDS: readonly Kind[] = ["services", "endpointSlices", "pods", "serviceProfiles", "trafficSplits"];
/** Without these, a snapshot would announce no endpoints: open() waits for them. */
const REQUIRED: readonly Kind[] = ["services", "endpointSlices", "pods"];

export class KubernetesSource extends MemorySource {
  private readonly watched: RestartingInformer<Kind>[] = [];
  private readonly log: Logger;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;
  private reported = new Set<string>();

  private constructor(private readonly options: KubernetesSourceOptions) {
    super();
    this.log = options.log ?? logger("destination");
  }

  /** Starts the informers; resolves once Services, EndpointSlices and Pods are listed. */
  static async open(options: KubernetesSourceOptions): Promise<KubernetesSource> {
    const source = new KubernetesSource(options);
    const lists = listWatches(options.kubeConfig);
    for (const kind of KINDS)
      source.watched.push(
        new RestartingInformer(kind, options.kubeConfig, lists[kind], {
          ...(options.backoffInitialMs !== undefined && { backoffInitialMs: options.backoffInitialMs }),
          ...(options.backoffMaxMs !== undefined && { backoffMaxMs: options.backoffMaxMs }),
          log: source.log,
          onEvent: () => source.changed(),
        }),
      );
    for (const w of source.watched) void w.start();
    await Promise.all(source.watched.filter((w) => REQUIRED.includes(w.kind)).map((w) => w.whenSynced()));
    source.rebuild();
    return source;
  }

  override stop(): void {
    this.closed = true;
    clearTimeout(this.debounce);
    for (const w of this.watched) void w.stop();
    super.stop();
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(
      () => this.rebuild(),
      this.options.debounceMs ?? DEFAULT_KUBERNETES_DEBOUNCE_MS,
    );
    this.debounce.unref();
  }

  private rebuild(): void {
    if (this.closed) return;
    const objects = Object.fromEntries(
      this.watched.map((w) => [w.kind, w.list()]),
    ) as unknown as KubernetesObjects;
    const { state, problems } = translate(objects, this.options.clusterDomain);
    this.report(problems);
    // A refused ServiceProfile or TrafficSplit leaves the last good one of its name in force.
    const previous = this.current();
    const profiles = new Map(state.profiles);
    const splits = new Map(state.splits);
    for (const p of problems) {
      if (!p.key) continue;
      const oldProfile = p.kind === "ServiceProfile" && !profiles.has(p.key) && previous.profiles.get(p.key);
      if (oldProfile) profiles.set(p.key, oldProfile);
      const oldSplit = p.kind === "TrafficSplit" && !splits.has(p.key) && previous.splits.get(p.key);
      if (oldSplit) splits.set(p.key, oldSplit);
    }
    this.set(clusterState(state.services.values(), profiles.values(), splits.values()));
  }

  private report(problems: Problem[]): void {
    const now = new Set(problems.map((p) => p.reason));
    for (const p of problems) {
      if (this.reported.has(p.reason)) continue;
      this.log.error({ code: p.code }, `refused: ${describe(p.code, p.reason)}`);
      this.refused(p);
    }
    this.reported = now;
  }
}
