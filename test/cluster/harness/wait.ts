/**
 * Waiting on the API by watching, not polling: resolve when an object of a list satisfies a
 * predicate, bounded by a deadline whose error names what was awaited and the last state seen.
 */
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from "@kubernetes/client-node";

export interface WaitOptions {
  /** Path of the list, e.g. `/api/v1/namespaces/t1/pods`. */
  path: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
  labelSelector?: string;
  fieldSelector?: string;
  timeoutMs?: number;
}

/** Resolves with the first object (listed or watched) for which `ok` returns true. */
export async function waitForObject<T extends KubernetesObject>(
  kc: KubeConfig,
  what: string,
  opts: WaitOptions,
  ok: (obj: T) => boolean,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const informer = new ListWatch<KubernetesObject>(
    opts.path,
    new Watch(kc),
    opts.list,
    false,
    opts.labelSelector,
    opts.fieldSelector,
  );
  let last: KubernetesObject | undefined;
  let settled = false;
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${what}: not seen within ${timeoutMs} ms; last: ${JSON.stringify(last ?? null)}`),
          ),
        timeoutMs,
      );
      const check = (obj: KubernetesObject) => {
        last = obj;
        if (ok(obj as T)) {
          clearTimeout(timer);
          resolve(obj as T);
        }
      };
      informer.on("add", check);
      informer.on("update", check);
      informer.on("error", (err) => {
        // The informer stops on error; start it again while the deadline allows. An AbortError is
        // its own doing (a restart, or our stop) and needs nothing.
        if (settled || !err || (err as Error).name === "AbortError") return;
        setTimeout(() => {
          if (!settled) void informer.start().catch(() => {});
        }, 200).unref();
      });
      informer.start().catch((err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    settled = true;
    await informer.stop().catch(() => {});
  }
}
