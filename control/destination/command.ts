/**
 * `trellis-controller destination`: the flags, their validation (a bad flag is a usage error, exit 2,
 * naming the flag), and the run: load the source, start the service, print one ready line on stdout,
 * serve until SIGTERM or SIGINT. Startup failures (an unreadable directory, no Kubernetes configuration,
 * a port in use) are logged naming the directory, file or address and end with exit code 1. With
 * --source=kubernetes the ready line waits until Services, EndpointSlices and Pods are listed.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { Command, InvalidArgumentError, Option } from "commander";
import { type Logger, logger } from "../api/log.js";
import { DEFAULT_TRUST_DOMAIN, isTrustDomain } from "../api/spiffe.js";
import { parseListenAddress } from "../identity/command.js";
import type { ListenAddress } from "../identity/server.js";
import { DestinationError } from "./errors.js";
import type { Source } from "./source.js";

/** The parsed flags of `trellis-controller destination`. */
export interface DestinationFlags {
  listen: ListenAddress;
  adminListen: ListenAddress;
  source: "local" | "kubernetes";
  localDir?: string;
  kubeconfig?: string;
  clusterDomain: string;
  trustDomain: string;
}

const EXIT_USAGE = 2;

function dnsName(value: string): string {
  if (!isTrustDomain(value)) throw new InvalidArgumentError("expected a DNS name such as cluster.local");
  return value;
}

/** Builds the `destination` subcommand; its action sets process.exitCode. */
export function destinationCommand(): Command {
  const command = new Command("destination")
    .description("serve endpoints and profiles (Get, GetProfile) to proxies, streamed as they change")
    .addOption(
      new Option("--listen <host:port>", "gRPC (plaintext) address of the Destination API")
        .default(parseListenAddress("0.0.0.0:8086"), "0.0.0.0:8086")
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option("--admin-listen <host:port>", "HTTP address of /metrics, /ready and /live")
        .default(parseListenAddress("0.0.0.0:9996"), "0.0.0.0:9996")
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option("--source <kind>", "where Services, endpoints, ServiceProfiles and TrafficSplits come from")
        .choices(["local", "kubernetes"])
        .default("kubernetes"),
    )
    .addOption(
      new Option(
        "--local-dir <path>",
        "directory of YAML files (Service local.trellis.dev/v1, ServiceProfile, TrafficSplit); required with --source=local",
      ),
    )
    .addOption(
      new Option(
        "--kubeconfig <path>",
        "kubeconfig for --source=kubernetes; in-cluster configuration when absent",
      ),
    )
    .addOption(
      new Option("--cluster-domain <domain>", "the cluster's DNS domain")
        .default("cluster.local")
        .argParser(dnsName),
    )
    .addOption(
      new Option("--trust-domain <domain>", "trust domain of the endpoints' SPIFFE IDs")
        .default(DEFAULT_TRUST_DOMAIN)
        .argParser(dnsName),
    )
    .addHelpText(
      "after",
      `
Examples:
  trellis-controller destination                      # in a cluster: informers through the in-cluster config
  trellis-controller destination --kubeconfig ~/.kube/config
  trellis-controller destination --source=local --local-dir=./mesh
  trellis-controller destination --source=local --local-dir=./mesh --listen=127.0.0.1:0 --admin-listen=127.0.0.1:0

Once serving it prints one line on stdout:
  {"ready":true,"listen":"host:port","admin":"host:port"}`,
    )
    .action(async (flags: DestinationFlags, cmd: Command) => {
      if (flags.source === "local" && !flags.localDir)
        cmd.error("error: --local-dir is required with --source=local", {
          exitCode: EXIT_USAGE,
          code: "trellis.usage",
        });
      process.exitCode = await runDestination(flags);
    });
  return command;
}

/** Runs the service until SIGTERM or SIGINT; resolves with the exit code. */
export async function runDestination(flags: DestinationFlags): Promise<number> {
  const log = logger("destination");
  let stopSignal: string | undefined;
  let onSignal: (signal: string) => void = (signal) => {
    stopSignal = signal;
  };
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  try {
    const source = await openSource(flags, log);
    // Loaded here, not at the top: `trellis-controller identity` should not pay for them at startup.
    const { startDestinationService } = await import("./server.js");
    const service = await startDestinationService({
      listen: flags.listen,
      adminListen: flags.adminListen,
      source,
      clusterDomain: flags.clusterDomain,
      trustDomain: flags.trustDomain,
      log,
    }).catch((err) => {
      source.stop();
      throw err;
    });
    process.stdout.write(
      `${JSON.stringify({ ready: true, listen: service.listen, admin: service.admin })}\n`,
    );
    const signal = await new Promise<string>((resolve) => {
      if (stopSignal) resolve(stopSignal);
      onSignal = resolve;
    });
    log.info({ signal }, "shutting down");
    await service.shutdown();
    return 0;
  } catch (err) {
    if (err instanceof DestinationError) log.error({ code: err.code }, `cannot start: ${err.message}`);
    else log.error({ err }, "cannot start");
    return 1;
  } finally {
    process.off("SIGTERM", handler);
    process.off("SIGINT", handler);
  }
}

async function openSource(flags: DestinationFlags, log: Logger): Promise<Source> {
  if (flags.source === "local") {
    const { LocalSource } = await import("./local-source.js");
    return LocalSource.open({ dir: flags.localDir as string, clusterDomain: flags.clusterDomain, log });
  }
  const { loadKubeConfig } = await import("../identity/kubernetes-verifier.js");
  const { KubernetesSource } = await import("./kubernetes-source.js");
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig(flags.kubeconfig);
  } catch (err) {
    throw new DestinationError(
      "TRELLIS_E_DESTINATION_KUBERNETES",
      `${flags.kubeconfig ? `--kubeconfig ${flags.kubeconfig}` : "Kubernetes client configuration"}: ${(err as Error).message}`,
    );
  }
  log.info({ server: kubeConfig.getCurrentCluster()?.server }, "waiting for the informers to sync");
  return KubernetesSource.open({ kubeConfig, clusterDomain: flags.clusterDomain, log });
}
