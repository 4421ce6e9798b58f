/**
 * The Kubernetes source: informers on Services, EndpointSlices, Pods, ServiceProfiles
 * (trellis.dev/v1alpha1) and TrafficSplits (split.smi-spec.io/v1alpha2), all namespaces. Any event
 * schedules a rebuild (debounced) of the whole snapshot from the informers' caches through the pure
 * translation in kubernetes.ts, so repeated events after a re-list change nothing. An informer that
 * errors stops for good in @kubernetes/client-node, so it is restarted here with exponential backoff
 * (500 ms doubling to 30 s, reset once it lists again).
 *
 *   starting ──listed──► synced ──error──► backing off ──timer──► starting
 *
 * open() resolves once the Service, EndpointSlice and Pod informers have listed once (a snapshot
 * without them would announce no endpoints); the CRD informers join when they can (a missing CRD is
 * logged and retried, and its kind is simply empty meanwhile).
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import { Backoff } from "../../lib/backoff.js";
import { type Logger, logger } from "../../lib/log.js";
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
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  log?: Logger;
}

export const DEFAULT_KUBERNETES_DEBOUNCE_MS = 20;
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30_000;

type Kind = keyof KubernetesObjects;

/** One informer and its restart state machine. */
class Watched {
  synced = false;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private failedThisStart = false;
  private stopped = false;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly kind: Kind,
    readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>,
    private readonly options: { initialMs: number; maxMs: number; log: Logger; onEvent: () => void },
  ) {
    this.backoff = new Backoff(options.initialMs, options.maxMs);
    for (const verb of ["add", "update", "delete"] as const) informer.on(verb, () => options.onEvent());
    informer.on("error", (err) => {
      this.failedThisStart = true;
      if (this.stopped) return;
      const delay = this.backoff.next();
      options.log.warn(
        { kind, err: (err as Error)?.message ?? String(err), retryInMs: delay },
        "informer failed; restarting after backoff",
      );
      this.timer = setTimeout(() => void this.start(), delay);
      this.timer.unref();
    });
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    this.failedThisStart = false;
    await this.informer.start().catch(() => {
      this.failedThisStart = true;
    });
    if (this.failedThisStart || this.stopped) return;
    this.backoff.reset();
    if (!this.synced) this.options.log.info({ kind: this.kind }, "informer synced");
    this.synced = true;
    this.options.onEvent();
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the informer has listed successfully. */
  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

export class KubernetesSource extends MemorySource {
  private readonly watched: Watched[] = [];
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
    const kc = options.kubeConfig;
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const crd = (group: string, version: string, plural: string) => () =>
      custom.listCustomObjectForAllNamespaces({ group, version, plural }) as Promise<
        KubernetesListObject<KubernetesObject>
      >;
    const specs: [Kind, string, () => Promise<KubernetesListObject<KubernetesObject>>][] = [
      ["services", "/api/v1/services", () => core.listServiceForAllNamespaces()],
      [
        "endpointSlices",
        "/apis/discovery.k8s.io/v1/endpointslices",
        () => discovery.listEndpointSliceForAllNamespaces(),
      ],
      ["pods", "/api/v1/pods", () => core.listPodForAllNamespaces()],
      [
        "serviceProfiles",
        "/apis/trellis.dev/v1alpha1/serviceprofiles",
        crd("trellis.dev", "v1alpha1", "serviceprofiles"),
      ],
      [
        "trafficSplits",
        "/apis/split.smi-spec.io/v1alpha2/trafficsplits",
        crd("split.smi-spec.io", "v1alpha2", "trafficsplits"),
      ],
    ];
    for (const [kind, path, list] of specs) {
      const informer = makeInformer(kc, path, list);
      source.watched.push(
        new Watched(kind, informer, {
          initialMs: options.backoffInitialMs ?? BACKOFF_INITIAL_MS,
          maxMs: options.backoffMaxMs ?? BACKOFF_MAX_MS,
          log: source.log,
          onEvent: () => source.changed(),
        }),
      );
    }
    for (const w of source.watched) void w.start();
    await Promise.all(
      source.watched
        .filter((w) => ["services", "endpointSlices", "pods"].includes(w.kind))
        .map((w) => w.whenSynced()),
    );
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
      this.watched.map((w) => [w.kind, w.informer.list()]),
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
