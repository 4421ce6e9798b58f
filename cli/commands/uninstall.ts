/**
 * `meshctl uninstall`: prints what `kubectl delete -f -` needs to remove the control plane, as Linkerd's
 * does: the cluster-scoped objects the install made and its namespace, which takes everything inside
 * it (Deployments, Services, ConfigMaps, the issuer Secret) along. Names and kinds only, never data.
 * The injector's webhook configuration comes first: deleted after the injector, it would refuse every
 * new pod in the cluster (its failure policy is Fail) until deleted.
 * `--crds` prints the CRDs instead, kept apart because deleting them deletes every ServiceProfile and
 * TrafficSplit in the cluster.
 */
import { Command, Option } from "commander";
import {
  crdInstallObjects,
  FLAG_DEFAULTS,
  type InstallFlags,
  installObjects,
  namespaceArg,
  type OutputFormat,
  resolveValues,
  serialize,
  uninstallObjects,
} from "../install/index.js";

interface UninstallFlags {
  crds: boolean;
  namespace: string;
  output: OutputFormat;
}

export function uninstallCommand(): Command {
  return new Command("uninstall")
    .description("print the control plane's objects for kubectl delete -f - (the CRDs with --crds)")
    .option("--crds", "print only the CustomResourceDefinitions (delete these last)", false)
    .addOption(
      new Option("--namespace <ns>", "namespace of the control plane")
        .default(FLAG_DEFAULTS.namespace)
        .argParser(namespaceArg),
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .addHelpText(
      "after",
      `
Examples:
  meshctl uninstall | kubectl delete -f -          # the control plane and its namespace
  meshctl uninstall --crds | kubectl delete -f -   # then the CRDs, with every ServiceProfile and TrafficSplit`,
    )
    .action((flags: UninstallFlags) => {
      process.stdout.write(runUninstall(flags));
    });
}

/** The text `meshctl uninstall` prints. */
export function runUninstall(flags: UninstallFlags): string {
  const install: InstallFlags = {
    ...FLAG_DEFAULTS,
    crds: flags.crds,
    ha: false,
    namespace: flags.namespace,
    identityExternalIssuer: false,
    output: flags.output,
  };
  const values = resolveValues(install);
  if (flags.crds) return serialize(uninstallObjects(crdInstallObjects(values)), flags.output);
  // Which issuer and how many replicas do not matter: only cluster-scoped objects and the namespace are
  // listed, and those are the same for every install into this namespace.
  const objects = installObjects(values, { trustAnchorsPem: "" }, { caPem: "", certPem: "", keyPem: "" });
  return serialize(uninstallObjects(objects.filter((o) => o.metadata.namespace === undefined)), flags.output);
}
