/**
 * `trellis-controller injector`: the flags, their validation (a bad flag is a usage error, exit 2,
 * naming the flag), and the run: check the serving certificate, list the control plane's ConfigMaps and
 * the Namespaces, serve the webhook and the admin server, print one ready line on stdout, serve
 * until SIGTERM or SIGINT. Startup failures (an unusable certificate, no Kubernetes configuration, a
 * port in use) are logged naming the file or address and end with exit code 1.
 */
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { Command, Option } from "commander";
import type { ListenAddress } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import { dnsLabel, parseListenAddress } from "../common/flags.js";
import { listenForStop } from "../common/signals.js";
import { InjectorError } from "./errors.js";

/** The parsed flags of `trellis-controller injector`. */
export interface InjectorFlags {
  listen: ListenAddress;
  adminListen: ListenAddress;
  tlsCertFile: string;
  tlsKeyFile: string;
  controlPlaneNamespace: string;
  kubeconfig?: string;
}

export const INJECTOR_WEBHOOK_PORT = 8443;
export const INJECTOR_ADMIN_PORT = 9995;

/** Builds the `injector` subcommand; its action sets process.exitCode. */
export function injectorCommand(): Command {
  return new Command("injector")
    .description("serve the mutating admission webhook that adds the proxy to pods as they are created")
    .addOption(
      new Option("--listen <host:port>", "HTTPS address of the webhook (POST /inject)")
        .default(parseListenAddress(`0.0.0.0:${INJECTOR_WEBHOOK_PORT}`), `0.0.0.0:${INJECTOR_WEBHOOK_PORT}`)
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option("--admin-listen <host:port>", "HTTP address of /metrics, /ready and /live")
        .default(parseListenAddress(`0.0.0.0:${INJECTOR_ADMIN_PORT}`), `0.0.0.0:${INJECTOR_ADMIN_PORT}`)
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option(
        "--tls-cert-file <path>",
        "PEM serving certificate (then any intermediates), for the webhook Service's name; reloaded when it changes",
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option("--tls-key-file <path>", "PEM key of the serving certificate").makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--control-plane-namespace <ns>",
        "where trellis-config and the trust anchors are (watched); never injected",
      )
        .default("trellis")
        .argParser(dnsLabel),
    )
    .addOption(
      new Option("--kubeconfig <path>", "kubeconfig of the API server; in-cluster configuration when absent"),
    )
    .addHelpText(
      "after",
      `
Examples:
  trellis-controller injector --tls-cert-file=/var/run/trellis/injector/tls/tls.crt \\
      --tls-key-file=/var/run/trellis/injector/tls/tls.key
  trellis-controller injector --kubeconfig ~/.kube/config --listen=127.0.0.1:0 --admin-listen=127.0.0.1:0 \\
      --tls-cert-file=tls.crt --tls-key-file=tls.key

Once serving it prints one line on stdout:
  {"ready":true,"listen":"host:port","admin":"host:port"}`,
    )
    .action(async (flags: InjectorFlags) => {
      process.exitCode = await runInjector(flags);
    });
}

/** Runs the webhook until SIGTERM or SIGINT; resolves with the exit code. */
export async function runInjector(flags: InjectorFlags): Promise<number> {
  const log = logger("injector");
  const { stopped, dispose } = listenForStop();
  try {
    // Checked before waiting on the API server, so an unusable file fails at once, named.
    const { loadServingPair } = await import("./tls.js");
    const pair = await loadServingPair({ cert: flags.tlsCertFile, key: flags.tlsKeyFile });
    if (!pair.ok) throw new InjectorError(pair.code, pair.reason);
    const { loadKubeConfig } = await import("../k8s/client.js");
    let kubeConfig: KubeConfig;
    try {
      kubeConfig = loadKubeConfig(flags.kubeconfig);
    } catch (err) {
      throw new InjectorError(
        "TRELLIS_E_INJECTOR_KUBERNETES",
        `${flags.kubeconfig ? `--kubeconfig ${flags.kubeconfig}` : "Kubernetes client configuration"}: ${(err as Error).message}`,
      );
    }
    const { KubernetesSources } = await import("./kubernetes.js");
    const { startInjector } = await import("./server.js");
    log.info(
      { server: kubeConfig.getCurrentCluster()?.server, namespace: flags.controlPlaneNamespace },
      "waiting for the ConfigMaps and Namespaces to be listed",
    );
    let reloads: ((applied: boolean) => void) | undefined;
    const opening = KubernetesSources.open({
      kubeConfig,
      controlPlaneNamespace: flags.controlPlaneNamespace,
      log,
      onConfigChange: (applied) => reloads?.(applied),
    });
    const sources = await Promise.race([opening, stopped.then(() => "stopped" as const)]);
    if (sources === "stopped") {
      void opening.then((s) => s.stop());
      return 0;
    }
    const service = await startInjector({
      listen: flags.listen,
      adminListen: flags.adminListen,
      tls: { cert: flags.tlsCertFile, key: flags.tlsKeyFile },
      sources,
      controlPlaneNamespace: flags.controlPlaneNamespace,
      // A pod's hostname is its name: it names this replica in Events.
      instance: hostname(),
      log,
    }).catch(async (err) => {
      await sources.stop();
      throw err;
    });
    reloads = (applied) => service.metrics.configReloads.inc({ result: applied ? "applied" : "refused" });
    process.stdout.write(
      `${JSON.stringify({ ready: true, listen: service.listen, admin: service.admin })}\n`,
    );
    const signal = await stopped;
    log.info({ signal }, "shutting down");
    await service.shutdown();
    return 0;
  } catch (err) {
    if (err instanceof InjectorError) log.error({ code: err.code }, `cannot start: ${err.message}`);
    else log.error({ err }, "cannot start");
    return 1;
  } finally {
    dispose();
  }
}
