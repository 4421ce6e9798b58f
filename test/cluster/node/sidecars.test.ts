/**
 * Native sidecars on the node stand-in, as a kubelet 1.29+ runs them (what `meshctl inject` renders):
 * init containers in order, the next waiting for a sidecar's startup probe, sidecars restarted beside
 * the app, stopped after it when a Job's work is done or the pod is deleted. The containers append to
 * an {@link EventLog} on this machine, so the order of what ran is read, not inferred from timing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchV1Api, type V1Container, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { containerStatus, type EventLog, hasCondition, waitForObject, waitForPod } from "../harness/index.js";
import { nodeTestBed, sh } from "./fixture.js";

const bed = nodeTestBed();
const { eventLog } = bed;

/** Appends `<name>` when it starts, and on SIGTERM `<name>-term`, then `<name>-exit` as it exits 0. */
function untilTerm(log: EventLog, name: string, afterStart = ""): string {
  const onTerm = `${log.append(`${name}-term`)}; sleep 0.3; ${log.append(`${name}-exit`)}; exit 0`;
  return `trap '${onTerm}' TERM; ${log.append(name)}; ${afterStart} sleep infinity & wait`;
}

/** A native sidecar: an init container with restartPolicy Always. */
function sidecar(c: V1Container): V1Container {
  return { ...c, restartPolicy: "Always" };
}

const exists = (path: string) => ({ exec: { command: ["test", "-f", path] }, periodSeconds: 1 });

/**
 * A sidecar that runs until SIGTERM ({@link untilTerm}) and has started once it logged its start: its
 * startup probe waits for a flag raised after that line, so what follows it logs after it.
 */
function loggingSidecar(log: EventLog, name: string): V1Container {
  const up = log.flag(`${name}-up`);
  return sidecar(sh(name, untilTerm(log, name, `touch ${up};`), { startupProbe: exists(up) }));
}

test("init containers start in order, and what follows a sidecar waits until its startup probe passed", async () => {
  const ns = "order";
  const log = await eventLog(ns);
  await bed.webPod(ns, {
    initContainers: [
      sh("setup", log.append("setup")),
      sidecar(
        sh("proxy", `${log.append("proxy")}; exec sleep infinity`, {
          startupProbe: { ...exists(log.flag("proxy-up")), failureThreshold: 600 },
        }),
      ),
      sh("after-proxy", log.append("after-proxy")),
    ],
    containers: [sh("app", `${log.append("app")}; exec sleep infinity`)],
  });
  const kc = bed.cluster.kubeConfig;
  const waiting = await waitForPod(
    kc,
    ns,
    "web",
    "the sidecar running",
    (p) => containerStatus(p, "proxy")?.state?.running !== undefined,
  );
  assert.deepEqual(await log.until("the sidecar ran", (l) => l.includes("proxy")), ["setup", "proxy"]);
  const setup = containerStatus(waiting, "setup");
  assert.equal(setup?.state?.terminated?.exitCode, 0);
  assert.equal(setup?.state?.terminated?.reason, "Completed");
  assert.equal(setup?.ready, true);
  assert.equal(containerStatus(waiting, "proxy")?.started, false, "the startup probe has not passed");
  assert.equal(containerStatus(waiting, "proxy")?.ready, false);
  assert.equal(containerStatus(waiting, "after-proxy")?.state?.waiting?.reason, "PodInitializing");
  assert.equal(containerStatus(waiting, "app")?.state?.waiting?.reason, "PodInitializing");
  assert.equal(waiting.status?.phase, "Pending");
  assert.equal(hasCondition(waiting, "Initialized"), false);

  await log.raise("proxy-up");
  const ready = await waitForPod(kc, ns, "web", "Ready", (p) => hasCondition(p, "Ready"));
  assert.deepEqual(await log.until("the app ran", (l) => l.includes("app")), [
    "setup",
    "proxy",
    "after-proxy",
    "app",
  ]);
  assert.equal(hasCondition(ready, "Initialized"), true);
  const proxy = containerStatus(ready, "proxy");
  assert.ok(proxy?.state?.running, JSON.stringify(proxy));
  assert.equal(proxy?.started, true);
  assert.equal(proxy?.ready, true);
  assert.equal(proxy?.restartCount, 0);
  assert.equal(containerStatus(ready, "after-proxy")?.state?.terminated?.reason, "Completed");
  assert.equal(containerStatus(ready, "app")?.started, true);
  // Sidecars are reported with the init containers, the apps apart.
  assert.deepEqual(
    ready.status?.initContainerStatuses?.map((c) => c.name),
    ["setup", "proxy", "after-proxy"],
  );
  assert.deepEqual(
    ready.status?.containerStatuses?.map((c) => c.name),
    ["app"],
  );
});

test("a sidecar that exits is restarted beside the app, which keeps running", async () => {
  const ns = "restart";
  const log = await eventLog(ns);
  const crash = log.flag("crash");
  await bed.webPod(ns, {
    initContainers: [
      sidecar(
        sh(
          "proxy",
          `${log.append("proxy")}; while [ ! -f ${crash} ]; do sleep 0.1; done; rm ${crash}; exit 3`,
        ),
      ),
    ],
    containers: [sh("app", `${log.append("app")}; exec sleep infinity`)],
  });
  const kc = bed.cluster.kubeConfig;
  const first = await waitForPod(kc, ns, "web", "Ready", (p) => hasCondition(p, "Ready"));
  await log.until("the app ran", (l) => l.includes("app"));
  await log.raise("crash");
  const restarted = await waitForPod(
    kc,
    ns,
    "web",
    "the sidecar restarted and Ready again",
    (p) => containerStatus(p, "proxy")?.restartCount === 1 && hasCondition(p, "Ready"),
  );
  const proxy = containerStatus(restarted, "proxy");
  assert.equal(proxy?.lastState?.terminated?.exitCode, 3);
  assert.equal(proxy?.lastState?.terminated?.reason, "Error");
  assert.ok(proxy?.state?.running);
  const app = containerStatus(restarted, "app");
  assert.equal(app?.restartCount, 0);
  assert.deepEqual(app?.state?.running?.startedAt, containerStatus(first, "app")?.state?.running?.startedAt);
  // The app starts once the sidecar's process runs (it has no startup probe), so their first lines
  // may land in either order; the third is the sidecar's second run.
  const lines = await log.until("the sidecar ran again", (l) => l.length === 3);
  assert.deepEqual([...lines.slice(0, 2)].sort(), ["app", "proxy"]);
  assert.equal(lines[2], "proxy");
  const started = (name: string) =>
    new Date(containerStatus(first, name)?.state?.running?.startedAt ?? Number.NaN).getTime();
  assert.ok(started("proxy") <= started("app"), "the app started before its sidecar");
});

test("a sidecar whose startup probe never passes is restarted, and the app never starts", async () => {
  const ns = "nostart";
  const log = await eventLog(ns);
  await bed.webPod(ns, {
    initContainers: [
      sidecar(
        sh("proxy", `${log.append("proxy")}; exec sleep infinity`, {
          startupProbe: { exec: { command: ["false"] }, periodSeconds: 1, failureThreshold: 2 },
        }),
      ),
    ],
    containers: [sh("app", `${log.append("app")}; exec sleep infinity`)],
  });
  const pod = await waitForPod(
    bed.cluster.kubeConfig,
    ns,
    "web",
    "the sidecar restarted twice",
    (p) => (containerStatus(p, "proxy")?.restartCount ?? 0) >= 2,
  );
  const proxy = containerStatus(pod, "proxy");
  // Killed with SIGTERM by the failed probe.
  assert.equal(proxy?.lastState?.terminated?.exitCode ?? proxy?.state?.terminated?.exitCode, 143);
  assert.equal(proxy?.started, false);
  assert.equal(containerStatus(pod, "app")?.state?.waiting?.reason, "PodInitializing");
  assert.equal(pod.status?.phase, "Pending");
  assert.equal(hasCondition(pod, "Initialized"), false);
  const lines = await log.lines();
  assert.ok(!lines.includes("app"), lines.join(" "));
  assert.ok(lines.filter((l) => l === "proxy").length >= 2, lines.join(" "));
});

/** The one pod of Job `name` once the Job has condition `type`. */
async function jobEnded(ns: string, name: string, type: "Complete" | "Failed"): Promise<V1Pod> {
  const batch = bed.cluster.kubeConfig.makeApiClient(BatchV1Api);
  await waitForObject<V1Job>(
    bed.cluster.kubeConfig,
    `job ${ns}/${name} ${type}`,
    {
      path: `/apis/batch/v1/namespaces/${ns}/jobs`,
      list: () => batch.listNamespacedJob({ namespace: ns }),
      fieldSelector: `metadata.name=${name}`,
    },
    (j) => Boolean(j.status?.conditions?.some((c) => c.type === type && c.status === "True")),
  );
  const pods = await bed.core.listNamespacedPod({
    namespace: ns,
    labelSelector: `batch.kubernetes.io/job-name=${name}`,
  });
  assert.equal(pods.items.length, 1);
  return pods.items[0] as V1Pod;
}

test("a Job with a sidecar ends once its app exits: Complete on 0, Failed on 1, the sidecar stopped after the app", async () => {
  const ns = "jobs";
  await bed.cluster.createNamespace(ns);
  const batch = bed.cluster.kubeConfig.makeApiClient(BatchV1Api);
  const run = async (name: string, code: number) => {
    const log = await eventLog(`${ns}-${name}`);
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: "Never",
              terminationGracePeriodSeconds: 5,
              initContainers: [loggingSidecar(log, "proxy")],
              containers: [sh("work", `${log.append("work")}; exit ${code}`)],
            },
          },
        },
      },
    });
    return log;
  };
  const [doneLog, failedLog] = await Promise.all([run("done", 0), run("failed", 1)]);
  const [done, failed] = await Promise.all([
    jobEnded(ns, "done", "Complete"),
    jobEnded(ns, "failed", "Failed"),
  ]);

  assert.equal(done.status?.phase, "Succeeded");
  assert.equal(failed.status?.phase, "Failed");
  for (const [pod, code] of [
    [done, 0],
    [failed, 1],
  ] as const) {
    const work = containerStatus(pod, "work")?.state?.terminated;
    assert.equal(work?.exitCode, code);
    assert.equal(work?.reason, code === 0 ? "Completed" : "Error");
    // The sidecar was stopped (SIGTERM, its trap exits 0) and is not restarted.
    const proxy = containerStatus(pod, "proxy");
    assert.equal(proxy?.state?.terminated?.exitCode, 0, JSON.stringify(proxy));
    assert.equal(proxy?.restartCount, 0);
    assert.equal(hasCondition(pod, "Ready"), false);
  }
  for (const log of [doneLog, failedLog])
    assert.deepEqual(await log.lines(), ["proxy", "work", "proxy-term", "proxy-exit"]);
});

test("deleting a pod stops its app containers first, then its sidecars in reverse order", async () => {
  const ns = "deletion";
  const log = await eventLog(ns);
  await bed.webPod(ns, {
    terminationGracePeriodSeconds: 10,
    initContainers: [loggingSidecar(log, "first"), loggingSidecar(log, "second")],
    containers: [sh("app", untilTerm(log, "app"))],
  });
  await waitForPod(bed.cluster.kubeConfig, ns, "web", "Ready", (p) => hasCondition(p, "Ready"));
  await log.until("every container ran", (l) => l.length === 3);
  await bed.core.deleteNamespacedPod({ name: "web", namespace: ns });
  await bed.cluster.kubectl(["wait", "--for=delete", "pod/web", "-n", ns, "--timeout=60s"]);
  assert.deepEqual(await log.lines(), [
    "first",
    "second",
    "app",
    "app-term",
    "app-exit",
    "second-term",
    "second-exit",
    "first-term",
    "first-exit",
  ]);
});
