/**
 * `meshctl viz install` and `meshctl viz uninstall`: print the viz Prometheus's manifests for
 * `kubectl apply -f -` (cli/viz/install.ts), or the names `kubectl delete -f -` needs to remove them.
 * Same flags, same bytes: the output is pinned by golden files.
 */
import { Command, Option } from "commander";
import { namespaceArg, type OutputFormat, serialize } from "../install/index.js";
import {
  imageArg,
  prometheusDurationArg,
  VIZ_DEFAULTS,
  type VizInstallValues,
  vizObjects,
  vizUninstallObjects,
} from "../viz/install.js";

interface VizInstallFlags extends VizInstallValues {
  output: OutputFormat;
}

const namespaceOption = () =>
  new Option("--namespace <ns>", "namespace of the viz Prometheus")
    .default(VIZ_DEFAULTS.namespace)
    .argParser(namespaceArg);
const outputOption = () =>
  new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml");

export function vizInstallCommand(): Command {
  return new Command("install")
    .description("print the manifests of a Prometheus that scrapes every proxy, for kubectl apply -f -")
    .addOption(namespaceOption())
    .addOption(
      new Option("--prometheus-image <image>", "Prometheus's image")
        .default(VIZ_DEFAULTS.prometheusImage)
        .argParser(imageArg),
    )
    .addOption(
      new Option("--scrape-interval <duration>", "how often every proxy is scraped")
        .default(VIZ_DEFAULTS.scrapeInterval)
        .argParser(prometheusDurationArg(1)),
    )
    .addOption(
      new Option("--retention <duration>", "how long Prometheus keeps what it scraped")
        .default(VIZ_DEFAULTS.retention)
        .argParser(prometheusDurationArg(60)),
    )
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Examples:
  meshctl viz install | kubectl apply -f -     # Prometheus in trellis-viz
  meshctl viz check                            # then: is it up, and scraping the proxies?
  meshctl viz stat deploy -n shop              # viz commands now read it through the API server

Prometheus keeps its data in an emptyDir for the retention (6h by default): golden metrics for the
terminal, not long-term storage.`,
    )
    .action((flags: VizInstallFlags) => {
      process.stdout.write(serialize(vizObjects(flags), flags.output));
    });
}

export function vizUninstallCommand(): Command {
  return new Command("uninstall")
    .description("print the viz Prometheus's objects for kubectl delete -f -")
    .addOption(namespaceOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Example:
  meshctl viz uninstall | kubectl delete -f -   # its ClusterRole, binding and namespace, with all inside`,
    )
    .action((flags: { namespace: string; output: OutputFormat }) => {
      process.stdout.write(serialize(vizUninstallObjects(flags.namespace), flags.output));
    });
}
