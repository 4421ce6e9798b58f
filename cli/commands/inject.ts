/**
 * `meshctl inject`: adds Trellis to the workloads in YAML or JSON, for `kubectl apply -f -`. Gathers
 * the inputs (and, for --manual, the installed config), transforms every object with the pure
 * injector (control/injector/), then prints the objects on stdout and the report on stderr. A
 * refused object or a bad input fails the run before anything is printed on stdout.
 */
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  type InjectorConfig,
  inject,
  isPortOrRange,
  type ObjectReport,
  refusals,
  renderReport,
} from "../../control/injector/index.js";
import { InputError } from "../errors.js";
import { type ConfigFlags, loadConfig } from "../inject/config.js";
import { joinOutputs, parseSource, readSources, transformSource } from "../inject/documents.js";
import {
  cpuArg,
  DEFAULT_NAMESPACE,
  domainArg,
  memoryArg,
  namespaceArg,
  PROXY_LOG_LEVELS,
} from "../install/index.js";

interface InjectFlags extends ConfigFlags {
  manual: boolean;
  legacySidecar: boolean;
  skipInit: boolean;
  force: boolean;
  opaquePorts?: string[];
}

export function injectCommand(): Command {
  return new Command("inject")
    .description("add the Trellis proxy to Kubernetes workloads in YAML or JSON, for kubectl apply -f -")
    .argument("<inputs...>", "files, directories (searched recursively) or - for stdin")
    .option(
      "--manual",
      "render the proxy into the pod here, as the webhook would, instead of annotating",
      false,
    )
    .option(
      "--legacy-sidecar",
      "with --manual: the proxy as a regular container (clusters before 1.29)",
      false,
    )
    .option(
      "--skip-init",
      "with --manual: no trellis-init container (a CNI plugin intercepts instead)",
      false,
    )
    .option("--force", "also mesh workloads in kube-system and in the control plane's namespace", false)
    .addOption(
      new Option(
        "--opaque-ports <ports>",
        "ports whose traffic is not HTTP (8080,9000-9010): annotates pod templates, Namespaces and Services",
      ).argParser(portsArg),
    )
    .addOption(
      new Option("--control-plane-namespace <ns>", "namespace Trellis is installed in")
        .default(DEFAULT_NAMESPACE)
        .argParser(namespaceArg),
    )
    .option("--kubeconfig <file>", "with --manual: read the installed config from this cluster")
    .option(
      "--context <name>",
      "with --manual: read the installed config from this kubeconfig context (of --kubeconfig, else $KUBECONFIG or ~/.kube/config)",
    )
    .option(
      "--identity-trust-anchors-file <path>",
      "with --manual: PEM trust anchors (needed without --kubeconfig: the file given to meshctl install)",
    )
    .addOption(
      new Option("--cluster-domain <domain>", "with --manual, offline: the cluster's DNS domain").argParser(
        domainArg,
      ),
    )
    .addOption(
      new Option("--trust-domain <domain>", "with --manual: trust domain of the SPIFFE IDs").argParser(
        domainArg,
      ),
    )
    .option("--proxy-image <image>", "with --manual: the proxy's image (default: the installed one)")
    .addOption(
      new Option("--proxy-log-level <level>", "with --manual: the proxies' log level").choices(
        PROXY_LOG_LEVELS,
      ),
    )
    .addOption(
      new Option("--proxy-cpu-request <quantity>", "with --manual: the proxies' CPU request").argParser(
        cpuArg,
      ),
    )
    .addOption(
      new Option("--proxy-cpu-limit <quantity>", "with --manual: the proxies' CPU limit").argParser(cpuArg),
    )
    .addOption(
      new Option("--proxy-memory-request <quantity>", "with --manual: the proxies' memory request").argParser(
        memoryArg,
      ),
    )
    .addOption(
      new Option("--proxy-memory-limit <quantity>", "with --manual: the proxies' memory limit").argParser(
        memoryArg,
      ),
    )
    .addHelpText(
      "after",
      `
Examples:
  kubectl get deploy -n shop -o yaml | meshctl inject - | kubectl apply -f -
  meshctl inject k8s/ > meshed.yaml                 # every .yaml, .yml and .json below k8s/
  meshctl inject --manual --identity-trust-anchors-file ca.crt web.yaml
  meshctl inject --manual --kubeconfig ~/.kube/config web.yaml
  meshctl inject --manual --context prod web.yaml   # the installed config of the cluster of context prod

Without --manual, pod templates get the annotation trellis.dev/inject: enabled and the webhook adds
the proxy when pods are created. A Namespace gets the annotation; other kinds pass through.
The report goes to stderr; stdout holds only the objects.`,
    )
    .action(async (inputs: string[], flags: InjectFlags) => {
      const config = flags.manual ? await loadConfig(flags) : undefined;
      const { output, report } = runInject(inputs, flags, config, () => readFileSync(0, "utf8"));
      process.stdout.write(output);
      process.stderr.write(report);
    });
}

/** The whole run without I/O on stdout: throws InputError on a refusal, before anything is printed. */
export function runInject(
  inputs: string[],
  flags: InjectFlags,
  config: InjectorConfig | undefined,
  stdin: () => string,
): { output: string; report: string } {
  const parsed = readSources(inputs, stdin).map(parseSource);
  const reports: ObjectReport[] = [];
  const opts = {
    manual: flags.manual,
    legacySidecar: flags.legacySidecar,
    skipInit: flags.skipInit,
    force: flags.force,
    controlPlaneNamespace: flags.controlPlaneNamespace,
    ...(flags.opaquePorts ? { opaquePorts: flags.opaquePorts } : {}),
  };
  const output = joinOutputs(
    parsed.map((p) =>
      transformSource(p, (object) => {
        const r = inject(object, config, opts);
        reports.push(...r.reports);
        return r.object;
      }),
    ),
  );
  const refused = refusals(reports);
  if (refused.length > 0) throw new InputError(`cannot inject: ${refused.join("; ")}`);
  return { output, report: renderReport(reports) };
}

function portsArg(value: string): string[] {
  const ports = value.split(",").map((p) => p.trim());
  if (ports.length === 0 || !ports.every(isPortOrRange))
    throw new InvalidArgumentError("expected ports and ranges such as 8080,9000-9010");
  return ports;
}
