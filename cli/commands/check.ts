/**
 * `meshctl check`: asks the cluster whether the mesh is healthy, category by category (cli/check/).
 * Gather (the kubeconfig, one request proving the API server answers) → run the checks → render (the
 * table as it goes, `-o short` only what is not √, `-o json` one document at the end). Exit 0 when no
 * check failed (warnings allowed), 1 otherwise; an API server that cannot be reached at all is one
 * line and exit 1.
 */
import { Command, Option } from "commander";
import { nonNegativeDuration } from "../../control/common/flags.js";
import { apiErrorMessage, loadKubeConfig, RestClient } from "../../control/k8s/index.js";
import {
  CHECK_OUTPUTS,
  type CheckContext,
  type CheckOutput,
  categoriesFor,
  renderJson,
  runChecks,
  TablePrinter,
} from "../check/index.js";
import { EXIT_FAILURE, EXIT_OK, InputError, UsageError } from "../errors.js";
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
  return new Command("check")
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
    )
    .addOption(
      new Option("--wait <duration>", "retry the checks that may settle (pods starting) for up to this long")
        .default(0, "0s: no retries")
        .argParser(nonNegativeDuration),
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(CHECK_OUTPUTS).default("table"))
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use (default: its current context)")
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

/** Runs the checks, writing the report; answers the exit code. Throws UsageError or InputError first. */
export async function runCheck(flags: CheckFlags, write: (text: string) => void): Promise<number> {
  if (flags.pre && flags.proxy) throw new UsageError("--pre and --proxy cannot be combined");
  if (flags.proxyNamespace !== undefined && !flags.proxy)
    throw new UsageError("-n names the namespace of the proxies to check: it needs --proxy");
  let api: RestClient;
  try {
    api = new RestClient(loadKubeConfig(flags.kubeconfig, flags.context));
  } catch (err) {
    throw new InputError(`cannot load the kubeconfig: ${apiErrorMessage(err)}`);
  }
  const reach = await api.getText("/version");
  if (!reach.ok && reach.status === 0)
    throw new InputError(`cannot reach the Kubernetes API server at ${api.serverUrl}: ${reach.reason}`);

  const ctx: CheckContext = {
    api,
    namespace: flags.namespace,
    ...(flags.proxyNamespace !== undefined ? { proxyNamespace: flags.proxyNamespace } : {}),
    version: VERSION,
    now: () => new Date(),
  };
  const table = flags.output === "json" ? undefined : new TablePrinter(write, flags.output === "short");
  const waiting = new Set<string>();
  const report = await runChecks(categoriesFor(flags), ctx, {
    ...(flags.wait > 0 ? { deadline: Date.now() + flags.wait } : {}),
    onCheck: (category, check) => table?.check(category, check),
    onRetry: (_category, check) => {
      // One line per waited-for check, on stderr so stdout stays the report.
      if (waiting.has(check.description)) return;
      waiting.add(check.description);
      const why = (check.error ?? "").replace(/\s*\n\s*/g, " ").slice(0, 200);
      process.stderr.write(`waiting: ${check.description}${why ? ` (${why})` : ""}\n`);
    },
  });
  if (table) table.end(report);
  else write(renderJson(report));
  return report.success ? EXIT_OK : EXIT_FAILURE;
}
