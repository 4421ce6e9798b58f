/**
 * For tests of what runs in pods: wait on a Pod's status by watching it, find a container's status
 * among the init and app containers, and an event log that containers and exec probes append lines to
 * (a file on this machine, which containers see: the stand-in gives them no filesystem of their own),
 * awaited through file-change events with a bounded deadline.
 */
import { watch } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig, type V1ContainerStatus, type V1Pod } from "@kubernetes/client-node";
import { waitForObject } from "./wait.js";

/** Resolves with the Pod `namespace/name` once `ok` holds for it; rejects after `timeoutMs` with its last state. */
export function waitForPod(
  kc: KubeConfig,
  namespace: string,
  name: string,
  what: string,
  ok: (pod: V1Pod) => boolean,
  timeoutMs = 60_000,
): Promise<V1Pod> {
  const core = kc.makeApiClient(CoreV1Api);
  return waitForObject<V1Pod>(
    kc,
    `pod ${namespace}/${name}: ${what}`,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` }),
      fieldSelector: `metadata.name=${name}`,
      timeoutMs,
    },
    ok,
  );
}

/** The status of container `name`, an init container or an app container. */
export function containerStatus(pod: V1Pod, name: string): V1ContainerStatus | undefined {
  const all = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return all.find((c) => c.name === name);
}

/** Whether the pod's condition `type` is True. */
export function hasCondition(pod: V1Pod, type: string): boolean {
  return Boolean(pod.status?.conditions?.some((c) => c.type === type && c.status === "True"));
}

/** A folder on this machine with a `log` file that the pod's processes append one word per line to. */
export class EventLog {
  private constructor(readonly dir: string) {}

  static async create(name: string): Promise<EventLog> {
    const log = new EventLog(await mkdtemp(join(tmpdir(), `trellis-${name}-`)));
    await writeFile(log.path, "");
    return log;
  }

  get path(): string {
    return join(this.dir, "log");
  }

  /** A shell command appending `word` to the log. */
  append(word: string): string {
    return `echo ${word} >> ${this.dir}/log`;
  }

  /** The path of a flag file in the log's folder (for scripts and exec probes to test). */
  flag(name: string): string {
    return join(this.dir, name);
  }

  async raise(flag: string): Promise<void> {
    await writeFile(this.flag(flag), "");
  }

  async lines(): Promise<string[]> {
    return (await readFile(this.path, "utf8")).split("\n").filter((l) => l !== "");
  }

  /** Resolves with the lines once `ok` holds for them, checked on every change of the file. */
  async until(what: string, ok: (lines: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
    const watcher = watch(this.path);
    try {
      return await new Promise<string[]>((resolve, reject) => {
        let last: string[] = [];
        const timer = setTimeout(
          () => reject(new Error(`${what}: not seen within ${timeoutMs} ms; lines: ${last.join(" ")}`)),
          timeoutMs,
        );
        const check = async () => {
          last = await this.lines();
          if (ok(last)) {
            clearTimeout(timer);
            resolve(last);
          }
        };
        watcher.on("change", () => void check());
        watcher.on("error", reject);
        void check();
      });
    } finally {
      watcher.close();
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
