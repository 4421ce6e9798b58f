/**
 * Where `meshctl viz` reads from, chosen by its flags: a Prometheus (`--prometheus-url`), or a direct
 * scrape of a running `meshctl demo`'s proxies (`--demo`, `--demo-state PATH`). The in-cluster
 * sources (the API server's service proxy to Prometheus, its pod proxy to each proxy) are not here yet.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { DirectSource } from "../../viz/direct.js";
import type { TrafficSplit } from "../../viz/golden.js";
import { PrometheusSource, parseDuration } from "../../viz/promql.js";
import type { MetricsSource } from "../../viz/source.js";
import { type DemoState, findDemoState, readDemoState } from "../demo/state.js";
import { InputError, UsageError } from "../errors.js";

export interface SourceOptions {
  demo: boolean;
  demoState?: string;
  prometheusUrl?: string;
  namespace?: string;
  allNamespaces: boolean;
  window?: string;
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

export async function chooseSource(opts: SourceOptions): Promise<Chosen> {
  const direct = opts.demo || opts.demoState !== undefined;
  if (direct && opts.prometheusUrl)
    throw new UsageError("--demo and --prometheus-url cannot be used together");
  if (!direct && !opts.prometheusUrl)
    throw new UsageError(
      "say where the metrics are: --prometheus-url URL, or --demo for a running meshctl demo",
    );
  if (opts.allNamespaces && opts.namespace) throw new UsageError("-n and -A cannot be used together");
  const windowText = opts.window ?? (direct ? DEFAULT_WINDOW.direct : DEFAULT_WINDOW.prometheus);
  const windowSeconds = parseDuration(windowText);
  if (windowSeconds === undefined || windowSeconds <= 0)
    throw new UsageError(`-t ${windowText} is not a duration (e.g. 30s, 1m)`);

  if (direct) {
    const demo = await loadDemo(opts);
    if (windowSeconds < MIN_DIRECT_WINDOW_S)
      throw new UsageError(`-t ${windowText} is under the ${MIN_DIRECT_WINDOW_S}s a direct scrape needs`);
    const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? demo.namespace);
    const targets = demo.proxies.map((p) => ({
      admin: p.admin,
      labels: { namespace: demo.namespace, deployment: p.name, pod: p.pod },
    }));
    return {
      namespace,
      demo,
      open: async (mode) => {
        const source = new DirectSource(targets, windowSeconds);
        if (mode === "snapshot") await source.snapshot();
        else await source.collect();
        return source;
      },
    };
  }
  const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? "default");
  return {
    namespace,
    open: async (mode) => {
      const source = new PrometheusSource(opts.prometheusUrl as string, windowSeconds);
      const interval = await source.scrapeIntervalSeconds();
      if (mode === "window" && interval !== undefined && windowSeconds < interval)
        throw new UsageError(
          `-t ${windowText} is under Prometheus's scrape interval (${interval}s); a window needs two scrapes: use -t ${interval * 2}s or more`,
        );
      return source;
    },
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
      const o = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string; namespace?: string };
        spec?: { service?: string; backends?: { service?: string; weight?: number | string }[] };
      } | null;
      if (o?.kind !== "TrafficSplit" || !o.metadata?.name || !o.spec?.service) continue;
      splits.push({
        name: o.metadata.name,
        namespace: o.metadata.namespace ?? "default",
        apex: o.spec.service,
        backends: (o.spec.backends ?? []).map((b) => ({
          service: b.service ?? "",
          weight: Number.parseFloat(String(b.weight ?? 0)) || 0,
        })),
      });
    }
  }
  return splits;
}
