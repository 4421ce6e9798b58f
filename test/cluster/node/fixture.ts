/**
 * What the node stand-in's own tests share: one test bed for the file, started before its tests and
 * stopped after them with the event logs they made, the pod each test makes, and containers of the
 * tools image running sh.
 */
import { after, before } from "node:test";
import { CoreV1Api, type V1Container, type V1PodSpec } from "@kubernetes/client-node";
import { type Cluster, EventLog, startCluster, TEST_IMAGE_PREFIX } from "../harness/index.js";

export interface NodeTestBed {
  readonly cluster: Cluster;
  readonly core: CoreV1Api;
  /** A new {@link EventLog}, removed when the file's tests end. */
  eventLog(name: string): Promise<EventLog>;
  /** Creates the namespace `ns` and in it the pod `web` (a grace period of 1 s unless `spec` says). */
  webPod(ns: string, spec: V1PodSpec): Promise<void>;
}

/** Registers the file's `before` and `after`; the fields are there once its tests run. */
export function nodeTestBed(): NodeTestBed {
  let cluster: Cluster | undefined;
  let core: CoreV1Api | undefined;
  const logs: EventLog[] = [];
  before(async () => {
    cluster = await startCluster();
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await cluster?.stop();
    await Promise.all(logs.map((l) => l.remove()));
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the test bed is not started: use it inside a test");
    return value;
  };
  return {
    get cluster() {
      return started(cluster);
    },
    get core() {
      return started(core);
    },
    async webPod(ns, spec) {
      await started(cluster).createNamespace(ns);
      await started(core).createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: "web" }, spec: { terminationGracePeriodSeconds: 1, ...spec } },
      });
    },
    async eventLog(name) {
      const log = await EventLog.create(name);
      logs.push(log);
      return log;
    },
  };
}

/** A container of the tools image running `script` with sh. */
export function sh(name: string, script: string, extra: Partial<V1Container> = {}): V1Container {
  return { name, image: `${TEST_IMAGE_PREFIX}tools`, command: ["sh", "-c", script], ...extra };
}
