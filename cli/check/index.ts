/**
 * `meshctl check` without the command line, as linkerd2 `pkg/healthcheck`: the health of a cluster
 * and its mesh as data (types.ts), categories of checks (categories/), a runner that retries what may
 * settle under `--wait` and stops where a failure makes the rest meaningless (runner.ts), and the
 * renderers of the table, short and JSON outputs (render.ts), and a run printed as a command prints it
 * (report.ts), which `meshctl viz check` shares. Checks read the API server only through
 * the context's client, so the logic runs against a fake one in tests.
 */
import { trellisControlPlane, trellisCrds } from "./categories/control-plane.js";
import { trellisDataPlane, trellisDestination } from "./categories/data-plane.js";
import { trellisIdentity } from "./categories/identity.js";
import { trellisInjector } from "./categories/injector.js";
import { kubernetesApi, kubernetesVersion, preKubernetesSetup } from "./categories/kubernetes.js";
import type { Category } from "./types.js";

export { CHECK_OUTPUTS, type CheckOutput, render, renderJson, renderTable, TablePrinter } from "./render.js";
export { type PrintOptions, runAndPrint } from "./report.js";
export { RETRY_INTERVAL_MS, type RunOptions, runChecks } from "./runner.js";
export type * from "./types.js";

/** What to check: before an install (`--pre`), or the control plane and, with `--proxy`, the proxies. */
export interface CheckMode {
  pre: boolean;
  proxy: boolean;
}

/** The categories of a mode, in the order they run and print. */
export function categoriesFor(mode: CheckMode): Category[] {
  const always = [kubernetesApi, kubernetesVersion];
  if (mode.pre) return [...always, preKubernetesSetup];
  return [
    ...always,
    trellisCrds,
    trellisControlPlane,
    trellisIdentity,
    trellisDestination,
    trellisInjector,
    ...(mode.proxy ? [trellisDataPlane] : []),
  ];
}
