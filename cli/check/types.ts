/**
 * What a health check is, as data: a category is a named list of checks; a check has a description
 * (the line the user reads), a hint (where to look when it fails), whether its failure stops the rest of
 * its category or the whole run, whether `--wait` retries it, and a run function over the context.
 */
import type { RestClient } from "../../control/k8s/index.js";

/** How one check ended, as Linkerd's JSON names it. */
export type CheckResult = "success" | "warning" | "error";

/**
 * What a run function answers: nothing when the check passes, a warning or an error with its text, or
 * `skip` when the check does not apply here (not printed).
 */
export type Finding = undefined | { warning: string } | { error: string } | { skip: string };

/** What checks read: the API server and the choices of the command line. */
export interface CheckContext {
  api: Pick<RestClient, "get" | "post" | "getText">;
  /** The control plane's namespace (`--namespace`). */
  namespace: string;
  /** The namespace of the proxies `--proxy` looks at (`-n`); every namespace when undefined. */
  proxyNamespace?: string;
  /** The version of this meshctl, which proxies and the control plane should run. */
  version: string;
  now(): Date;
}

export interface Check {
  description: string;
  /** Printed under a failure: what to do or where to read about it; `<namespace>` is filled in. */
  hint: string;
  /**
   * A failure stops the rest of the category (`category`) or of the whole run (`run`), as a later check
   * cannot mean anything without this one; a warning never stops anything.
   */
  fatal?: "category" | "run";
  /** Retried under `--wait` until it passes or the time is up: for states that settle on their own. */
  retryable?: boolean;
  run(ctx: CheckContext): Promise<Finding>;
}

export interface Category {
  name: string;
  checks: readonly Check[];
}

/** One check's line in the report. */
export interface CheckReport {
  description: string;
  result: CheckResult;
  error?: string;
  hint?: string;
}

export interface CategoryReport {
  categoryName: string;
  checks: CheckReport[];
}

/** The whole run, in Linkerd's JSON shape: success is true when no check ended in error. */
export interface Report {
  success: boolean;
  categories: CategoryReport[];
}
