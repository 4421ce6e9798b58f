/**
 * `meshctl uninject`: takes Trellis out of workloads in YAML or JSON, for `kubectl apply -f -`: what
 * `meshctl inject` (or the webhook) added is removed, everything else is printed as it came.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { type ObjectReport, renderReport, uninject } from "../../control/injector/index.js";
import { joinOutputs, parseSource, readSources, transformSource } from "../inject/documents.js";

export function uninjectCommand(): Command {
  return new Command("uninject")
    .description("remove the Trellis proxy from Kubernetes workloads in YAML or JSON, for kubectl apply -f -")
    .argument("<inputs...>", "files, directories (searched recursively) or - for stdin")
    .addHelpText(
      "after",
      `
Examples:
  kubectl get deploy -n shop -o yaml | meshctl uninject - | kubectl apply -f -
  meshctl uninject meshed.yaml > plain.yaml`,
    )
    .action((inputs: string[]) => {
      const { output, report } = runUninject(inputs, () => readFileSync(0, "utf8"));
      process.stdout.write(output);
      process.stderr.write(report);
    });
}

export function runUninject(inputs: string[], stdin: () => string): { output: string; report: string } {
  const reports: ObjectReport[] = [];
  const output = joinOutputs(
    readSources(inputs, stdin)
      .map(parseSource)
      .map((p) =>
        transformSource(p, (object) => {
          const r = uninject(object);
          reports.push(...r.reports);
          return r.object;
        }),
      ),
  );
  return { output, report: renderReport(reports) };
}
