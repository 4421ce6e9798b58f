/**
 * `meshctl viz check`: is the viz Prometheus up, reachable through the API server, and scraping the
 * proxies? The categories are cli/viz/check.ts's; the run, the table and the JSON are `meshctl
 * check`'s. Exit 0 when no check failed (warnings allowed), 1 otherwise or when the API server cannot
 * be reached, 2 on bad usage.
 */
import { Command, Option } from "commander";
import { type CheckContext, type CheckOutput, runAndPrint } from "../check/index.js";
import { connect, type KubeFlags } from "../cluster.js";
import { EXIT_FAILURE, EXIT_OK } from "../errors.js";
import { namespaceArg } from "../install/index.js";
import { VERSION } from "../version.js";
import { VIZ_CATEGORIES } from "../viz/check.js";
import { VIZ_DEFAULTS } from "../viz/install.js";
import { runOptions } from "./check.js";

interface VizCheckFlags extends KubeFlags {
  namespace: string;
  wait: number;
  output: CheckOutput;
}

export function vizCheckCommand(): Command {
  const cmd = new Command("check")
    .description(
      "check that the viz Prometheus is up, reachable through the API server and scraping the proxies",
    )
    .addOption(
      new Option("--namespace <ns>", "namespace of the viz Prometheus")
        .default(VIZ_DEFAULTS.namespace)
        .argParser(namespaceArg),
    );
  return runOptions(cmd, "Prometheus starting")
    .addHelpText(
      "after",
      `
Examples:
  meshctl viz check --wait 2m     # after meshctl viz install: wait for Prometheus and its first scrapes
  meshctl viz check -o json | jq .success

Exit status: 0 when no check failed (warnings allowed), 1 when one did or the API server cannot be
reached, 2 on bad usage.`,
    )
    .action(async (flags: VizCheckFlags) => {
      const { api } = await connect(flags);
      const ctx: CheckContext = { api, namespace: flags.namespace, version: VERSION, now: () => new Date() };
      const report = await runAndPrint(VIZ_CATEGORIES, ctx, {
        output: flags.output,
        waitMs: flags.wait,
        write: (t) => process.stdout.write(t),
        note: (t) => process.stderr.write(t),
      });
      process.exitCode = report.success ? EXIT_OK : EXIT_FAILURE;
    });
}
