/**
 * Watching files that a Kubernetes volume mounts (a Secret, a ConfigMap): the kubelet swaps a `..data`
 * symlink in the files' directory rather than writing the files, so the directories are watched, a
 * burst of events is debounced into one call, and a periodic call covers a lost event or a file
 * system that sends none. The callback decides whether anything changed; it is never told which file.
 */
import { type FSWatcher, watch } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "../../lib/log.js";

export const FILE_WATCH_DEBOUNCE_MS = 200;
export const FILE_WATCH_POLL_INTERVAL_MS = 10_000;

export interface FileWatchOptions {
  /** Wait this long after the last event before calling (writers touch several files). */
  debounceMs?: number;
  /** Call this often even without events. */
  pollIntervalMs?: number;
  log: Logger;
}

/** Calls `onChange` after changes in the files' directories and every poll interval; returns the stop function. */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  options: FileWatchOptions,
): () => void {
  let stopped = false;
  let debounce: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  const changed = () => {
    if (stopped) return;
    clearTimeout(debounce);
    debounce = setTimeout(onChange, options.debounceMs ?? FILE_WATCH_DEBOUNCE_MS);
    debounce.unref();
  };
  for (const dir of new Set(files.map((f) => dirname(resolve(f))))) {
    try {
      const w = watch(dir, { persistent: false }, changed);
      w.on("error", (err) => options.log.warn({ err, dir }, "watching files failed; relying on polling"));
      watchers.push(w);
    } catch (err) {
      options.log.warn({ err, dir }, "cannot watch the files' directory; relying on polling");
    }
  }
  const poll = setInterval(onChange, options.pollIntervalMs ?? FILE_WATCH_POLL_INTERVAL_MS);
  poll.unref();
  return () => {
    stopped = true;
    clearTimeout(debounce);
    clearInterval(poll);
    for (const w of watchers) w.close();
  };
}
