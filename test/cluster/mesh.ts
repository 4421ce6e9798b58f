/**
 * Trellis on a test bed, as the cluster tests meet it: meshctl run against the test bed's kubeconfig,
 * install applied with kubectl (the CRDs first, Established, then the control plane), a control-plane
 * component's pod awaited Ready, and `meshctl check`'s report read line by line (a failure with its
 * error and the hint the check's own data holds, or a pass).
 */
import assert from "node:assert/strict";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { categoriesFor } from "../../cli/check/index.js";
import { type Run, meshctl as run } from "../support/meshctl.js";
import type { Cluster } from "./harness/index.js";
import { waitForObject } from "./harness/wait.js";

/** The control plane's namespace in these tests. */
export const NAMESPACE = "trellis";

/** meshctl against this test bed (its kubeconfig in KUBECONFIG unless `env` says otherwise). */
export function meshctlOn(cluster: Cluster, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run(args, { env: { KUBECONFIG: cluster.kubeconfigPath, ...env }, timeoutMs: 180_000 });
}

/** `kubectl apply -f -` of a YAML or JSON stream; resolves with kubectl's report. */
export function apply(cluster: Cluster, yaml: string): Promise<string> {
  return cluster.kubectl(["apply", "-f", "-"], { input: yaml });
}

/** kubectl apply's report, one line per object: `<kind>/<name> created|configured|unchanged`. */
export function outcomes(report: string): string[] {
  return report
    .trim()
    .split("\n")
    .map((l) => l.trim());
}

/**
 * `install --crds` applied and Established, then `install <args>` applied: what an operator runs.
 * Resolves with both outputs and the second apply's report.
 */
export async function installTrellis(
  cluster: Cluster,
  args: string[] = [],
): Promise<{ crds: string; install: string; report: string }> {
  const [crds, install] = await Promise.all([
    meshctlOn(cluster, ["install", "--crds"]),
    meshctlOn(cluster, ["install", ...args]),
  ]);
  assert.equal(crds.code, 0, crds.stderr);
  assert.equal(install.code, 0, install.stderr);
  await apply(cluster, crds.stdout);
  await cluster.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "customresourcedefinition/serviceprofiles.trellis.dev",
    "customresourcedefinition/trafficsplits.split.smi-spec.io",
  ]);
  const report = await apply(cluster, install.stdout);
  return { crds: crds.stdout, install: install.stdout, report };
}

/** Waits (bounded) until a pod of a control-plane component is Ready. */
export function controlPlanePodReady(cluster: Cluster, component: string): Promise<V1Pod> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const labelSelector = `trellis.dev/control-plane-component=${component}`;
  return waitForObject<V1Pod>(
    cluster.kubeConfig,
    `a ${component} pod Ready`,
    {
      path: `/api/v1/namespaces/${NAMESPACE}/pods`,
      list: () => core.listNamespacedPod({ namespace: NAMESPACE, labelSelector }),
      labelSelector,
      timeoutMs: 120_000,
    },
    (p) => Boolean(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
  );
}

/** The hint a check prints, read from the check's own data. */
export function checkHint(description: string, pre = false): string {
  const check = categoriesFor({ pre, proxy: !pre })
    .flatMap((c) => c.checks)
    .find((c) => c.description === description);
  assert.ok(check, `no check "${description}"`);
  return check.hint.replaceAll("<namespace>", NAMESPACE);
}

/** Asserts `check` failed with `× description`, followed by its error lines and its hint. */
export function assertCheckFailedOn(run: Run, description: string, errorPattern: RegExp, pre = false): void {
  assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.split("\n");
  const at = lines.indexOf(`× ${description}`);
  assert.ok(at >= 0, `no "× ${description}" line in:\n${run.stdout}`);
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !l.startsWith("    "));
  const detail = rest.slice(0, end < 0 ? rest.length : end);
  assert.match(detail.join("\n"), errorPattern, run.stdout);
  assert.equal(detail.at(-1), `    hint: ${checkHint(description, pre)}`, run.stdout);
  assert.match(run.stdout, /Status check results are ×\n$/);
}

/** Asserts `check` passed: exit 0, no ×, the √ summary. */
export function assertCheckPassed(run: Run): void {
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.doesNotMatch(run.stdout, /^×/m);
  assert.match(run.stdout, /Status check results are √\n$/);
}
