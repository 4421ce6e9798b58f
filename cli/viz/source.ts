/**
 * Where `meshctl viz` reads from, chosen by its flags: a Prometheus (`--prometheus-url`), a direct
 * scrape of a running `meshctl demo`'s proxies (`--demo`, `--demo-state PATH`), or, with neither, the
 * cluster of the kubeconfig (./cluster.ts): its viz Prometheus when `meshctl viz install` put one
 * there, else (or with `--direct`) its meshed pods' proxies, each through the API server.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { DirectSource, type ScrapeTarget } from "../../viz/direct.js";
import { type TrafficSplit, type TrafficSplitObject, trafficSplitOf } from "../../viz/golden.js";
import { PrometheusSource, parseDuration } from "../../viz/promql.js";
import type { MetricsSource } from "../../viz/source.js";
import { connect, KubeconfigError, type KubeFlags } from "../cluster.js";
import { type DemoState, findDemoState, readDemoState } from "../demo/state.js";
import { InputError, UsageError } from "../errors.js";
import {
  apiFetcher,
  clusterSplits,
  meshedPodTargets,
  requireNamespace,
  vizPrometheus,
  vizPrometheusInstalled,
} from "./cluster.js";
import { VIZ_NAMESPACE } from "./install.js";

export interface SourceOptions extends KubeFlags {
  demo: boolean;
  demoState?: string;
  prometheusUrl?: string;
  /** In a cluster: scrape the meshed pods even when the viz Prometheus is installed. */
  direct?: boolean;
  /** In a cluster: where `meshctl viz install` put Prometheus. */
  vizNamespace?: string;
  namespace?: string;
  allNamespaces: boolean;
  window?: string;
  /** The window of a direct scrape when `window` is not given (the dashboard's refresh). */
  directWindow?: string;
  /** The destination service's local store, for TrafficSplits (the demo's by default). */
  store?: string;
}

/** The shortest window a direct scrape takes: below it, counts are too few to mean anything. */
const MIN_DIRECT_WINDOW_S = 1;
const DEFAULT_WINDOW = { prometheus: "1m", direct: "10s" };

export interface Chosen {
  /** undefined for -A. */
  namespace: string | undefined;
  /** Builds the source over the window and collects what it needs (for direct scrapes: waits the window). */
  open(mode: "window" | "snapshot"): Promise<MetricsSource>;
  /** The TrafficSplits `viz stat trafficsplit` reads: from the cluster, or from a local store. */
  splits(): Promise<TrafficSplit[]>;
  demo?: DemoState;
}

async function loadDemo(opts: SourceOptions): Promise<DemoState> {
  if (opts.demoState) {
    return readDemoState(opts.demoState).catch((err: Error) => {
      throw new InputError(`cannot read the demo state ${opts.demoState}: ${err.message}`);
    });
  }
  const found = await findDemoState();
  if (!found)
    throw new InputError(
      "no meshctl demo is running (start one with `meshctl demo`, or pass --demo-state PATH)",
    );
  return found.state;
}

/** The window in seconds; a usage error when it is not a duration. */
function windowOf(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0)
    throw new UsageError(`-t ${text} is not a duration (e.g. 30s, 1m)`);
  return seconds;
}

/** A direct scrape of `targets()` (asked again at every open, so new pods join) over the window. */
function directOpen(
  windowText: string,
  targets: () => Promise<ScrapeTarget[]>,
  fetcher?: ReturnType<typeof apiFetcher>,
): Chosen["open"] {
  const windowSeconds = windowOf(windowText);
  if (windowSeconds < MIN_DIRECT_WINDOW_S)
    throw new UsageError(`-t ${windowText} is under the ${MIN_DIRECT_WINDOW_S}s a direct scrape needs`);
  return async (mode) => {
    const source = new DirectSource(await targets(), windowSeconds, fetcher);
    if (mode === "snapshot") await source.snapshot();
    else await source.collect();
    return source;
  };
}

/** A Prometheus over the window, refusing a window shorter than its scrape interval. */
function prometheusOpen(
  windowText: string,
  make: (windowSeconds: number) => PrometheusSource,
): Chosen["open"] {
  const windowSeconds = windowOf(windowText);
  return async (mode) => {
    const source = make(windowSeconds);
    const interval = await source.scrapeIntervalSeconds();
    if (mode === "window" && interval !== undefined && windowSeconds < interval)
      throw new UsageError(
        `-t ${windowText} is under Prometheus's scrape interval (${interval}s); a window needs two scrapes: use -t ${interval * 2}s or more`,
      );
    return source;
  };
}

export async function chooseSource(opts: SourceOptions): Promise<Chosen> {
  const demo = opts.demo || opts.demoState !== undefined;
  if (demo && opts.prometheusUrl) throw new UsageError("--demo and --prometheus-url cannot be used together");
  if (opts.direct && (demo || opts.prometheusUrl))
    throw new UsageError(
      "--direct scrapes a cluster's pods: it cannot be used with --demo or --prometheus-url",
    );
  if (opts.allNamespaces && opts.namespace) throw new UsageError("-n and -A cannot be used together");
  if (opts.window !== undefined) windowOf(opts.window);
  const directWindow = opts.window ?? opts.directWindow ?? DEFAULT_WINDOW.direct;
  const prometheusWindow = opts.window ?? DEFAULT_WINDOW.prometheus;
  const fromStore = (state?: DemoState) => () => loadSplits(opts, state);

  if (demo) {
    const state = await loadDemo(opts);
    const targets = state.proxies.map((p) => ({
      admin: p.admin,
      labels: { namespace: state.namespace, deployment: p.name, pod: p.pod },
    }));
    return {
      namespace: opts.allNamespaces ? undefined : (opts.namespace ?? state.namespace),
      demo: state,
      open: directOpen(directWindow, async () => targets),
      splits: fromStore(state),
    };
  }
  if (opts.prometheusUrl) {
    const url = opts.prometheusUrl;
    return {
      namespace: opts.allNamespaces ? undefined : (opts.namespace ?? "default"),
      open: prometheusOpen(prometheusWindow, (w) => new PrometheusSource(url, w)),
      splits: fromStore(),
    };
  }

  const { api, contextNamespace } = await connect(opts).catch((err: Error) => {
    if (!(err instanceof KubeconfigError)) throw err;
    throw new InputError(
      `${err.message}; viz reads the cluster of a kubeconfig (--kubeconfig), a Prometheus (--prometheus-url URL) or a running meshctl demo (--demo)`,
    );
  });
  const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? contextNamespace ?? "default");
  if (namespace !== undefined) await requireNamespace(api, namespace);
  const vizNamespace = opts.vizNamespace ?? VIZ_NAMESPACE;
  const splits = opts.store ? fromStore() : () => clusterSplits(api, namespace);
  if (!opts.direct && (await vizPrometheusInstalled(api, vizNamespace)))
    return {
      namespace,
      open: prometheusOpen(prometheusWindow, (w) => vizPrometheus(api, vizNamespace, w)),
      splits,
    };
  return {
    namespace,
    open: directOpen(directWindow, () => meshedPodTargets(api, namespace), apiFetcher(api)),
    splits,
  };
}

/** The TrafficSplits of a local store (every YAML file in it), or the running demo's. */
export async function loadSplits(opts: SourceOptions, demo: DemoState | undefined): Promise<TrafficSplit[]> {
  const dir = opts.store ?? demo?.storeDir;
  if (!dir) throw new UsageError("TrafficSplits come from a local store: pass --store DIR, or --demo");
  const names = await readdir(dir).catch((err: Error) => {
    throw new InputError(`cannot read the store ${dir}: ${err.message}`);
  });
  const splits: TrafficSplit[] = [];
  for (const name of names.filter((n) => /\.ya?ml$/.test(n))) {
    for (const doc of parseAllDocuments(await readFile(join(dir, name), "utf8"))) {
      const o = doc.toJS() as (TrafficSplitObject & { kind?: string }) | null;
      const split = o?.kind === "TrafficSplit" ? trafficSplitOf(o) : undefined;
      if (split) splits.push(split);
    }
  }
  return splits;
}
