/**
 * Probes on the node stand-in, as a kubelet runs them: readiness and liveness wait for the startup
 * probe; a liveness probe failing past its threshold kills the container (SIGTERM, SIGKILL after the
 * grace period) and it restarts; a startup probe failing past its threshold does the same, and under
 * restartPolicy Never the pod fails. Exec probes append to an {@link EventLog}, so which probe ran when
 * is read, not inferred from timing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { containerStatus, hasCondition, TEST_IMAGE_PREFIX, waitForPod } from "../harness/index.js";
import { nodeTestBed, sh } from "./fixture.js";

const bed = nodeTestBed();
const { eventLog } = bed;

/** An exec probe running `script`, once a second. */
const execProbe = (script: string) => ({ exec: { command: ["sh", "-c", script] }, periodSeconds: 1 });

test("readiness and liveness probes run only once the startup probe passed", async () => {
  const ns = "startup";
  const log = await eventLog(ns);
  const startup = `if [ -f ${log.flag("up")} ]; then ${log.append("startup-ok")}; else ${log.append("startup-fail")}; exit 1; fi`;
  await bed.webPod(ns, {
    containers: [
      sh("app", "exec sleep infinity", {
        startupProbe: { ...execProbe(startup), failureThreshold: 600 },
        readinessProbe: execProbe(log.append("readiness")),
        livenessProbe: execProbe(log.append("liveness")),
      }),
    ],
  });
  const kc = bed.cluster.kubeConfig;
  await log.until("two failed startup probes", (l) => l.filter((x) => x === "startup-fail").length >= 2);
  const starting = await waitForPod(kc, ns, "web", "running", (p) =>
    Boolean(containerStatus(p, "app")?.state?.running),
  );
  assert.equal(containerStatus(starting, "app")?.started, false);
  assert.equal(containerStatus(starting, "app")?.ready, false);
  assert.equal(hasCondition(starting, "Ready"), false);
  assert.ok(
    (await log.lines()).every((l) => l === "startup-fail"),
    "only the startup probe runs before it passes",
  );

  await log.raise("up");
  const ready = await waitForPod(kc, ns, "web", "Ready", (p) => hasCondition(p, "Ready"));
  assert.equal(containerStatus(ready, "app")?.started, true);
  const lines = await log.until(
    "readiness and liveness ran",
    (l) => l.includes("readiness") && l.includes("liveness"),
  );
  const ok = lines.indexOf("startup-ok");
  assert.ok(ok > 0, lines.join(" "));
  assert.ok(
    lines.slice(0, ok).every((l) => l === "startup-fail"),
    lines.join(" "),
  );
  // The startup probe stops once it passed.
  assert.ok(!lines.slice(ok + 1).some((l) => l.startsWith("startup")), lines.join(" "));
});

test("a failing liveness probe kills the container, SIGTERM then SIGKILL after the grace period, and it restarts", async () => {
  const ns = "liveness";
  const log = await eventLog(ns);
  const [ran, healthy] = [log.flag("ran"), log.flag("healthy")];
  // The first run is unhealthy and ignores SIGTERM; the second is healthy.
  const script = [
    `if [ -f ${ran} ]; then touch ${healthy}; fi`,
    `touch ${ran}`,
    log.append("run"),
    `trap '${log.append("term")}' TERM`,
    "while true; do sleep 1 & wait; done",
  ].join("; ");
  await bed.webPod(ns, {
    terminationGracePeriodSeconds: 6,
    containers: [
      sh("app", script, {
        livenessProbe: {
          exec: { command: ["test", "-f", healthy] },
          periodSeconds: 1,
          failureThreshold: 2,
          // Long enough for the trap to log SIGTERM on a loaded machine, shorter than the pod's.
          terminationGracePeriodSeconds: 4,
        },
      }),
    ],
  });
  const pod = await waitForPod(
    bed.cluster.kubeConfig,
    ns,
    "web",
    "restarted once and Ready",
    (p) => containerStatus(p, "app")?.restartCount === 1 && hasCondition(p, "Ready"),
  );
  const app = containerStatus(pod, "app");
  assert.equal(app?.lastState?.terminated?.exitCode, 137, JSON.stringify(app));
  assert.equal(app?.lastState?.terminated?.reason, "Error");
  assert.equal(app?.started, true);
  const lines = await log.until("the second run", (l) => l.filter((x) => x === "run").length === 2);
  assert.deepEqual(lines, ["run", "term", "run"]);
});

test("a startup probe failing past its threshold kills the container; under restartPolicy Never the pod fails", async () => {
  const ns = "nostart";
  await bed.webPod(ns, {
    restartPolicy: "Never",
    containers: [
      // Nothing listens on 8081.
      sh("app", "exec sleep infinity", {
        startupProbe: { tcpSocket: { port: 8081 }, periodSeconds: 1, failureThreshold: 2 },
      }),
    ],
  });
  const pod = await waitForPod(
    bed.cluster.kubeConfig,
    ns,
    "web",
    "Failed",
    (p) => p.status?.phase === "Failed",
  );
  const app = containerStatus(pod, "app");
  assert.equal(app?.restartCount, 0);
  // Killed by SIGTERM, and not restarted.
  assert.equal(app?.state?.terminated?.exitCode, 143, JSON.stringify(app));
  assert.equal(app?.state?.terminated?.reason, "Error");
  assert.equal(app?.ready, false);
});

test("httpGet and tcpSocket startup probes that pass let the app become Ready", async () => {
  const ns = "httpget";
  await bed.webPod(ns, {
    initContainers: [
      {
        name: "server",
        image: `${TEST_IMAGE_PREFIX}echo`,
        restartPolicy: "Always",
        env: [{ name: "PORT", value: "9090" }],
        ports: [{ name: "http", containerPort: 9090 }],
        startupProbe: {
          httpGet: { path: "/ready", port: "http" },
          periodSeconds: 1,
          failureThreshold: 30,
        },
      },
    ],
    containers: [
      {
        name: "app",
        image: `${TEST_IMAGE_PREFIX}echo`,
        startupProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 30 },
        livenessProbe: { httpGet: { path: "/live", port: 8080 }, periodSeconds: 1 },
      },
    ],
  });
  const pod = await waitForPod(bed.cluster.kubeConfig, ns, "web", "Ready", (p) => hasCondition(p, "Ready"));
  for (const name of ["server", "app"]) {
    const c = containerStatus(pod, name);
    assert.equal(c?.started, true, name);
    assert.equal(c?.ready, true, name);
    assert.equal(c?.restartCount, 0, name);
  }
});
