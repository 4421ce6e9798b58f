/**
 * `meshctl diagnostics`: what an operator reads when something looks wrong. `proxy-metrics` prints the
 * raw metrics of the proxies of a pod or a workload (cli/diagnostics/proxy-metrics.ts). Exit 0 when
 * every pod's metrics were read, 1 when one could not be (the others are printed all the same).
 */
import { Command } from "commander";
import { connect, type KubeFlags, kubeOptions } from "../cluster.js";
import { parseResource, proxyMetrics, renderProxyMetrics } from "../diagnostics/proxy-metrics.js";
import { EXIT_FAILURE, EXIT_OK } from "../errors.js";
import { namespaceArg } from "../install/index.js";

interface ProxyMetricsFlags extends KubeFlags {
  namespace?: string;
}

export function diagnosticsCommand(): Command {
  const diagnostics = new Command("diagnostics").description(
    "what to read when something looks wrong: the raw metrics of proxies",
  );
  const proxyMetricsCommand = new Command("proxy-metrics")
    .description("print the raw Prometheus metrics of the proxies of a pod, or of a workload's pods")
    .argument("<resource>", "pod/NAME (or a pod's name), deploy/NAME, sts/NAME or ds/NAME")
    .option(
      "-n, --namespace <ns>",
      "namespace of the resource (default: the kubeconfig context's, or `default`)",
      namespaceArg,
    );
  kubeOptions(proxyMetricsCommand)
    .addHelpText(
      "after",
      `
Examples:
  meshctl diagnostics proxy-metrics -n shop deploy/web
  meshctl diagnostics proxy-metrics -n shop pod/web-5d8f9c7b4-x2x9p | grep ^response_total

The metrics are read through the API server's pod proxy, as kubectl reaches pods: no port-forward.`,
    )
    .action(async (resource: string, flags: ProxyMetricsFlags) => {
      parseResource(resource); // a usage error comes before any connection
      const { api, contextNamespace } = await connect(flags);
      const namespace = flags.namespace ?? contextNamespace ?? "default";
      const results = await proxyMetrics(api, namespace, resource);
      process.stdout.write(renderProxyMetrics(results));
      for (const r of results) if ("error" in r) process.stderr.write(`meshctl: ${r.error}\n`);
      process.exitCode = results.some((r) => "error" in r) ? EXIT_FAILURE : EXIT_OK;
    });
  return diagnostics.addCommand(proxyMetricsCommand);
}
