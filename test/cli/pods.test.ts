// Meshed pods as meshctl finds them: the proxy as a sidecar or a native-sidecar init container, its
// admin port from its environment, and the workload that owns the pod.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { isMeshed, podProxyPath, proxyAdminPort, workloadLabels } from "../../cli/pods.js";
import { PROXY_CONTAINER, PROXY_ENV } from "../../lib/proxy-env.js";

const pod = (spec: V1Pod["spec"], metadata: V1Pod["metadata"] = {}): V1Pod => ({
  metadata: { name: "p", namespace: "shop", ...metadata },
  spec,
});
const owned = (kind: string, name: string, labels: Record<string, string> = {}) =>
  pod(
    { containers: [] },
    { labels, ownerReferences: [{ apiVersion: "apps/v1", kind, name, uid: "u", controller: true }] },
  );

test("a pod is meshed with the proxy as a container or as a native-sidecar init container, not otherwise", () => {
  assert.equal(isMeshed(pod({ containers: [{ name: "app" }, { name: PROXY_CONTAINER }] })), true);
  assert.equal(
    isMeshed(
      pod({
        containers: [{ name: "app" }],
        initContainers: [{ name: PROXY_CONTAINER, restartPolicy: "Always" }],
      }),
    ),
    true,
  );
  assert.equal(
    isMeshed(pod({ containers: [{ name: "app" }], initContainers: [{ name: "trellis-init" }] })),
    false,
  );
});

test("the admin port is the proxy's own setting, 4191 by default", () => {
  assert.equal(proxyAdminPort(pod({ containers: [{ name: PROXY_CONTAINER }] })), 4191);
  const moved = pod({
    containers: [
      { name: PROXY_CONTAINER, env: [{ name: PROXY_ENV.ADMIN_LISTEN_ADDR, value: "0.0.0.0:9191" }] },
    ],
  });
  assert.equal(proxyAdminPort(moved), 9191);
  assert.equal(podProxyPath(moved, 9191, "/metrics"), "/api/v1/namespaces/shop/pods/p:9191/proxy/metrics");
});

test("the workload: a Deployment through its ReplicaSet's name less the template hash; StatefulSets and DaemonSets directly", () => {
  assert.deepEqual(
    workloadLabels(owned("ReplicaSet", "my-web-5d8f9c7b4", { "pod-template-hash": "5d8f9c7b4" })),
    {
      deployment: "my-web",
    },
  );
  assert.deepEqual(workloadLabels(owned("ReplicaSet", "bare")), {}, "a ReplicaSet of no Deployment");
  assert.deepEqual(workloadLabels(owned("StatefulSet", "db")), { statefulset: "db" });
  assert.deepEqual(workloadLabels(owned("DaemonSet", "agent")), { daemonset: "agent" });
  assert.deepEqual(workloadLabels(owned("Job", "migrate")), {});
  assert.deepEqual(workloadLabels(pod({ containers: [] })), {});
});
