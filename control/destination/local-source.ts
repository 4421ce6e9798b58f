/**
 * The local source: a directory of YAML files (`*.yaml`, `*.yml`, not recursive, read in name order),
 * each holding any number of documents of the kinds resources.ts reads. The directory is watched
 * (fs.watch, plus a periodic re-read in case an event is lost); a change is debounced, then every file
 * is read again and a new snapshot published when anything differs.
 *
 * A refused resource never takes a good one down: when a ServiceProfile, Service or TrafficSplit is
 * refused, the last good resource of the same kind and name stays in force; a file that is not YAML at
 * all keeps everything it held. Each refusal is logged once, naming the file and the field.
 */
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { coalesced } from "../../lib/coalesce.js";
import { type Logger, logger } from "../../lib/log.js";
import { DestinationError, describe } from "./errors.js";
import { clusterState, type Service, type ServiceProfile, type TrafficSplit } from "./model.js";
import { type Problem, parseResources, type Resource } from "./resources.js";
import { MemorySource } from "./source.js";

export interface LocalSourceOptions {
  dir: string;
  clusterDomain: string;
  /** Wait this long after the last change event before re-reading (editors write in several steps). */
  debounceMs?: number;
  /** Re-read this often even without watch events. */
  pollIntervalMs?: number;
  log?: Logger;
}

/** What one reload found. */
export interface LoadOutcome {
  /** Whether a new snapshot was published. */
  changed: boolean;
  /** Every refusal of this load (including ones already reported by earlier loads). */
  problems: Problem[];
}

/** Coalesces the several events one save makes (editors write, rename, chmod) into one reload. */
export const DEFAULT_LOCAL_DEBOUNCE_MS = 20;
export const DEFAULT_LOCAL_POLL_INTERVAL_MS = 5_000;

export class LocalSource extends MemorySource {
  private readonly log: Logger;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastSeen = "";
  private closed = false;
  /** What each file held when it last parsed as YAML. */
  private readonly lastGoodFile = new Map<string, Resource[]>();
  /** The resources in force, by `kind:namespace/name`. */
  private inForce = new Map<string, Resource>();
  private problemsNow: Problem[] = [];
  private readonly loadListeners = new Set<(outcome: LoadOutcome) => void>();

  private constructor(private readonly options: LocalSourceOptions) {
    super();
    this.log = options.log ?? logger("destination");
  }

  /** Reads the directory and starts watching it. Throws DestinationError when it cannot be read. */
  static async open(options: LocalSourceOptions): Promise<LocalSource> {
    const source = new LocalSource(options);
    try {
      await readdir(options.dir);
    } catch (err) {
      throw new DestinationError(
        "TRELLIS_E_DESTINATION_LOCAL_DIR",
        `${options.dir}: ${(err as Error).message}`,
      );
    }
    await source.reload();
    source.watch();
    return source;
  }

  /** The refusals of the latest load. */
  problems(): readonly Problem[] {
    return this.problemsNow;
  }

  /** Called after every load that saw changed files. Returns the unsubscribe function. */
  onLoad(listener: (outcome: LoadOutcome) => void): () => void {
    this.loadListeners.add(listener);
    return () => this.loadListeners.delete(listener);
  }

  /** Re-reads the directory now (what watch events and the poll timer end up calling). */
  reload(): Promise<void> {
    return this.reloadCoalesced();
  }

  private readonly reloadCoalesced = coalesced(
    async () => {
      try {
        await this.loadOnce();
      } catch (err) {
        this.log.error({ err, dir: this.options.dir }, "reading the local resource directory failed");
      }
    },
    () => this.closed,
  );

  override stop(): void {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    this.watcher?.close();
    this.loadListeners.clear();
    super.stop();
  }

  private watch(): void {
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => this.changed());
      this.watcher.on("error", (err) =>
        this.log.warn(
          { err, dir: this.options.dir },
          "watching the local directory failed; relying on polling",
        ),
      );
    } catch (err) {
      this.log.warn({ err, dir: this.options.dir }, "cannot watch the local directory; relying on polling");
    }
    this.poll = setInterval(
      () => void this.reload(),
      this.options.pollIntervalMs ?? DEFAULT_LOCAL_POLL_INTERVAL_MS,
    );
    this.poll.unref();
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(
      () => void this.reload(),
      this.options.debounceMs ?? DEFAULT_LOCAL_DEBOUNCE_MS,
    );
    this.debounce.unref();
  }

  private async loadOnce(): Promise<void> {
    const names = (await readdir(this.options.dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    const files: [string, string][] = [];
    for (const name of names) {
      const path = join(this.options.dir, name);
      try {
        files.push([path, await readFile(path, "utf8")]);
      } catch {
        // Removed between readdir and readFile, or a directory named *.yaml: the next event reloads.
      }
    }
    if (this.closed) return;
    const seen = JSON.stringify(files);
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;

    const problems: Problem[] = [];
    const next = new Map<string, Resource>();
    const present = new Set(files.map(([path]) => path));
    for (const path of this.lastGoodFile.keys()) if (!present.has(path)) this.lastGoodFile.delete(path);
    for (const [path, text] of files) {
      const parsed = parseResources(text, path, this.options.clusterDomain);
      problems.push(...parsed.problems);
      const resources = parsed.yamlOk ? parsed.resources : (this.lastGoodFile.get(path) ?? []);
      if (parsed.yamlOk) this.lastGoodFile.set(path, parsed.resources);
      for (const r of resources) {
        const id = `${r.kind}:${r.value.namespace}/${r.value.name}`;
        if (next.has(id)) {
          problems.push({
            code: "TRELLIS_E_DESTINATION_DUPLICATE",
            reason: `${path}: ${r.kind} ${r.value.namespace}/${r.value.name} is defined again; the first definition is used`,
          });
          continue;
        }
        next.set(id, r);
      }
    }
    // A refused resource leaves the last good one of its name in force.
    for (const p of problems) {
      if (!p.kind || !p.key) continue;
      const id = `${p.kind}:${p.key}`;
      const previous = this.inForce.get(id);
      if (!next.has(id) && previous) next.set(id, previous);
    }
    const reported = new Set(this.problemsNow.map((p) => p.reason));
    for (const p of problems) {
      if (reported.has(p.reason)) continue;
      const kept = p.kind && p.key && this.inForce.has(`${p.kind}:${p.key}`);
      this.log.error(
        { code: p.code, kept: Boolean(kept) },
        `refused: ${describe(p.code, p.reason)}${kept ? " (the last good one stays in force)" : ""}`,
      );
      this.refused(p);
    }
    this.problemsNow = problems;
    this.inForce = next;
    const all = [...next.values()];
    this.set(
      clusterState(
        all.filter((r) => r.kind === "Service").map((r) => r.value as Service),
        all.filter((r) => r.kind === "ServiceProfile").map((r) => r.value as ServiceProfile),
        all.filter((r) => r.kind === "TrafficSplit").map((r) => r.value as TrafficSplit),
      ),
    );
    this.log.debug({ resources: next.size, problems: problems.length }, "local resources loaded");
    for (const l of [...this.loadListeners]) l({ changed: true, problems });
  }
}
