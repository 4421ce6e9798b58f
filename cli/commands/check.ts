/**
 * `meshctl check`: asks the cluster whether the mesh is healthy, category by category (cli/check/).
 * Gather (the kubeconfig, one request proving the API server answers) → run the checks → render (the
 * table as it goes, `-o short` only what is not √, `-o json` one document at the end). Exit 0 when no
 * check failed (warnings allowed), 1 otherwise; an API server that cannot be reached at all is one
 * line and exit 1.
 */
import { Command, Option } from "commander";
import { nonNegativeDuration } from "../../control/common/flags.js";
import {
  CHECK_OUTPUTS,
  type CheckContext,
  type CheckOutput,
  categoriesFor,
  runAndPrint,
} from "../check/index.js";
import { connect, kubeOptions } from "../cluster.js";
import { EXIT_FAILURE, EXIT_OK, UsageError } from "../errors.js";
import { FLAG_DEFAULTS, namespaceArg } from "../install/index.js";
import { VERSION } from "../version.js";

export interface CheckFlags {
  pre: boolean;
  proxy: boolean;
  namespace: string;
  proxyNamespace?: string;
  /** Milliseconds retryable checks are retried for; 0 runs each once. */
  wait: number;
  output: CheckOutput;
  kubeconfig?: string;
  context?: string;
}

export function checkCommand(): Command {
  const cmd = new Command("check")
    .description("check that the cluster can run Trellis (--pre) or that the installed mesh is healthy")
    .option("--pre", "check that Trellis can be installed: run before `meshctl install`", false)
    .option("--proxy", "also check every meshed pod's proxy (in the namespace of -n, else all)", false)
    .addOption(
      new Option("--namespace <ns>", "namespace of the control plane")
        .default(FLAG_DEFAULTS.namespace)
        .argParser(namespaceArg),
    )
    .addOption(
      new Option("-n, --proxy-namespace <ns>", "with --proxy, check only this namespace's proxies").argParser(
        namespaceArg,
      ),
    );
  return runOptions(cmd, "pods starting")
    .addHelpText(
      "after",
      `
Examples:
  meshctl check --pre                 # before installing
  meshctl check --wait 5m             # after installing: wait for the control plane to come up
  meshctl check --proxy -n emojivoto  # the control plane and the proxies of one namespace
  meshctl check -o json | jq .success

Exit status: 0 when no check failed (warnings allowed), 1 when one did or the API server cannot be
reached, 2 on bad usage.`,
    )
    .action(async (flags: CheckFlags) => {
      process.exitCode = await runCheck(flags, (t) => process.stdout.write(t));
    });
}

/**
 * Adds the flags every check command takes: `--wait` (retry what may settle, such as `settling`),
 * `-o`, and the kubeconfig's.
 */
export function runOptions(cmd: Command, settling: string): Command {
  return kubeOptions(
    cmd
      .addOption(
        new Option("--wait <duration>", `retry the checks that may settle (${settling}) for up to this long`)
          .default(0, "0s: no retries")
          .argParser(nonNegativeDuration),
      )
      .addOption(
        new Option("-o, --output <format>", "output format").choices(CHECK_OUTPUTS).default("table"),
      ),
  );
}

/** Runs the checks, writing the report; answers the exit code. Throws UsageError or InputError first. */
export async function runCheck(flags: CheckFlags, write: (text: string) => void): Promise<number> {
  if (flags.pre && flags.proxy) throw new UsageError("--pre and --proxy cannot be combined");
  if (flags.proxyNamespace !== undefined && !flags.proxy)
    throw new UsageError("-n names the namespace of the proxies to check: it needs --proxy");
  const { api } = await connect(flags);

  const ctx: CheckContext = {
    api,
    namespace: flags.namespace,
    ...(flags.proxyNamespace !== undefined ? { proxyNamespace: flags.proxyNamespace } : {}),
    version: VERSION,
    now: () => new Date(),
  };
  const report = await runAndPrint(categoriesFor(flags), ctx, {
    output: flags.output,
    waitMs: flags.wait,
    write,
    note: (t) => process.stderr.write(t),
  });
  return report.success ? EXIT_OK : EXIT_FAILURE;
}
