// The viz Prometheus's scrape configuration applied, rule by rule as Prometheus applies relabeling, to
// the targets Kubernetes pod discovery makes (the test bed's stand-in, test/cluster/images/pod-sd.ts):
// one target per meshed pod on its admin port, sidecar or native sidecar, ports declared or not, named
// with the same labels meshctl's direct scrape gives the same pod; the control plane's admin ports a
// job of their own; nothing else.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { podTarget } from "../../../cli/viz/cluster.js";
import { CONTROLLER_JOB, PROXY_JOB, scrapeConfig } from "../../../cli/viz/scrape-config.js";
import { PROXY_CONTAINER } from "../../../lib/proxy-env.js";
import { podTargets } from "../../cluster/images/pod-sd.js";

interface Relabel {
  source_labels?: string[];
  action?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
}
interface Job {
  job_name: string;
  relabel_configs?: Relabel[];
}

/** Prometheus's `keep` and `replace` over one target's labels; undefined when it is dropped. */
function relabel(
  labels: Record<string, string>,
  rules: readonly Relabel[],
): Record<string, string> | undefined {
  const out = { ...labels };
  for (const r of rules) {
    const value = (r.source_labels ?? []).map((l) => out[l] ?? "").join(";");
    const m = new RegExp(`^(?:${r.regex ?? "(.*)"})$`).exec(value);
    if ((r.action ?? "replace") === "keep") {
      if (!m) return undefined;
      continue;
    }
    if (!m || !r.target_label) continue;
    const result = (r.replacement ?? "$1").replace(/\$(\d+)/g, (_, i: string) => m[Number(i)] ?? "");
    if (result === "") delete out[r.target_label];
    else out[r.target_label] = result;
  }
  return out;
}

/** What Prometheus scrapes of these pods under one job: address and the labels it keeps. */
function scraped(job: string, pods: V1Pod[]) {
  const config = scrapeConfig({ scrapeInterval: "10s" }) as { scrape_configs: Job[] };
  const rules = config.scrape_configs.find((j) => j.job_name === job)?.relabel_configs ?? [];
  return pods.flatMap(podTargets).flatMap((g) => {
    const labels = relabel({ ...g.labels, __address__: g.targets[0] as string }, rules);
    if (!labels) return [];
    const kept = Object.fromEntries(
      Object.entries(labels).filter(([k, v]) => !k.startsWith("__") && v !== ""),
    );
    return [{ address: labels.__address__, labels: kept }];
  });
}

const proxy = (ports: boolean, init = false): V1Container => ({
  name: PROXY_CONTAINER,
  image: "ghcr.io/trellis-mesh/trellis:0.1.0",
  ...(init ? { restartPolicy: "Always" } : {}),
  ...(ports
    ? {
        ports: [
          { name: "trellis-proxy", containerPort: 4143, protocol: "TCP" },
          { name: "trellis-admin", containerPort: 4191, protocol: "TCP" },
        ],
      }
    : {}),
});
const app: V1Container = { name: "app", image: "app", ports: [{ name: "http", containerPort: 8080 }] };

function pod(
  name: string,
  ip: string,
  spec: { containers: V1Container[]; initContainers?: V1Container[] },
  owner?: { kind: string; name: string },
  labels: Record<string, string> = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: "shop",
      labels,
      ...(owner
        ? { ownerReferences: [{ apiVersion: "apps/v1", ...owner, uid: "u", controller: true }] }
        : {}),
    },
    spec,
    status: { phase: "Running", podIP: ip },
  };
}

const PODS = [
  // A Deployment's pod, legacy sidecar declaring its ports.
  pod(
    "web-5d8f9c7b4-x2x9z",
    "198.18.0.2",
    { containers: [app, proxy(true)] },
    { kind: "ReplicaSet", name: "web-5d8f9c7b4" },
    { "pod-template-hash": "5d8f9c7b4" },
  ),
  // A StatefulSet's pod, native sidecar declaring no ports.
  pod(
    "db-0",
    "198.18.0.3",
    { containers: [app], initContainers: [proxy(false, true)] },
    { kind: "StatefulSet", name: "db" },
  ),
  // A DaemonSet's pod, and a bare pod.
  pod("agent-7qk2d", "198.18.0.4", { containers: [app, proxy(true)] }, { kind: "DaemonSet", name: "agent" }),
  pod("debug", "198.18.0.5", { containers: [proxy(true)] }),
  // Not meshed; and a control-plane pod.
  pod("plain", "198.18.0.6", { containers: [app] }),
  pod(
    "trellis-destination-6d9f-abcde",
    "198.18.0.7",
    {
      containers: [
        {
          name: "destination",
          image: "trellis",
          ports: [
            { name: "grpc", containerPort: 8086 },
            { name: "admin-http", containerPort: 9996 },
          ],
        },
      ],
    },
    { kind: "ReplicaSet", name: "trellis-destination-6d9f" },
    { "trellis.dev/control-plane-component": "destination", "pod-template-hash": "6d9f" },
  ),
];

test("every meshed pod is one proxy target on its admin port, named as the direct scrape names it", () => {
  const targets = scraped(PROXY_JOB, PODS);
  const meshed = PODS.filter(
    (p) => p.metadata?.name !== "plain" && !p.metadata?.name?.startsWith("trellis-"),
  );
  assert.deepEqual(
    targets.map((t) => t.address),
    meshed.map((p) => `${p.status?.podIP}:4191`),
  );
  assert.deepEqual(
    targets.map((t) => t.labels),
    meshed.map((p) => podTarget(p).labels),
  );
  assert.deepEqual(
    targets.map((t) => t.labels.deployment ?? t.labels.statefulset ?? t.labels.daemonset ?? "-"),
    ["web", "db", "agent", "-"],
  );
});

test("the control plane's admin port is its own job, with its component; nothing else is scraped", () => {
  assert.deepEqual(scraped(CONTROLLER_JOB, PODS), [
    {
      address: "198.18.0.7:9996",
      labels: { component: "destination", namespace: "shop", pod: "trellis-destination-6d9f-abcde" },
    },
  ]);
});
