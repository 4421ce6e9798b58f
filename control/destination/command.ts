/**
 * `trellis-controller destination`: the flags, their validation (a bad flag is a usage error, exit 2,
 * naming the flag), and the run: load the source, start the service, print one ready line on stdout,
 * serve until SIGTERM or SIGINT. Startup failures (an unreadable directory, no Kubernetes configuration,
 * a port in use) are logged naming the directory, file or address and end with exit code 1. With
 * --source=kubernetes the ready line waits until Services, EndpointSlices and Pods are listed. With
 * --identity-svc-addr it also waits for the service's own certificate, and gRPC is served over TLS.
 */
import { readFile } from "node:fs/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { Command, InvalidArgumentError, Option } from "commander";
import { formatHostPort, type ListenAddress } from "../../lib/address.js";
import { EXIT_USAGE } from "../../lib/exit-codes.js";
import type { IdentityClient } from "../../lib/identity/index.js";
import { type Logger, logger } from "../../lib/log.js";
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId, parseSpiffeId } from "../../lib/spiffe.js";
import { ownIdentityOptions, parseListenAddress, trustDomain } from "../common/flags.js";
import { listenForStop } from "../common/signals.js";
import { DestinationError } from "./errors.js";
import type { ServingTls } from "./server.js";
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
  identitySvcAddr?: ListenAddress;
  identitySvcName?: string;
  identityTokenFile?: string;
  trustAnchorsFile?: string;
  identityNamespace: string;
  identityServiceAccount: string;
}

function spiffeId(value: string): string {
  if (!parseSpiffeId(value))
    throw new InvalidArgumentError(
      "expected a SPIFFE ID such as spiffe://cluster.local/ns/trellis/sa/trellis-identity",
    );
  return value;
}

/** Builds the `destination` subcommand; its action sets process.exitCode. */
export function destinationCommand(): Command {
  const [identityNamespace, identityServiceAccount] = ownIdentityOptions("trellis-destination");
  const command = new Command("destination")
    .description("serve endpoints and profiles (Get, GetProfile) to proxies, streamed as they change")
    .addOption(
      new Option("--listen <host:port>", "gRPC address of the Destination API")
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
        .argParser(trustDomain),
    )
    .addOption(
      new Option("--trust-domain <domain>", "trust domain of the endpoints' SPIFFE IDs")
        .default(DEFAULT_TRUST_DOMAIN)
        .argParser(trustDomain),
    )
    .addOption(
      new Option(
        "--identity-svc-addr <host:port>",
        "identity service that issues this service's certificate; gRPC is then served over TLS (absent: plaintext, for a local mesh only)",
      ).argParser(parseListenAddress),
    )
    .addOption(
      new Option(
        "--identity-svc-name <spiffe-id>",
        "the identity service's SPIFFE ID (default: spiffe://<trust-domain>/ns/<identity-namespace>/sa/trellis-identity)",
      ).argParser(spiffeId),
    )
    .addOption(
      new Option(
        "--identity-token-file <path>",
        "the ServiceAccount token (audience identity.trellis.dev), read again on every renewal; required with --identity-svc-addr",
      ),
    )
    .addOption(
      new Option(
        "--trust-anchors-file <path>",
        "PEM file of the trust anchor(s), to verify the identity service; required with --identity-svc-addr",
      ),
    )
    .addOption(identityNamespace)
    .addOption(identityServiceAccount)
    .addHelpText(
      "after",
      `
Examples:
  trellis-controller destination                      # in a cluster: informers through the in-cluster config
  trellis-controller destination --kubeconfig ~/.kube/config
  trellis-controller destination --source=local --local-dir=./mesh
  trellis-controller destination --source=local --local-dir=./mesh --listen=127.0.0.1:0 --admin-listen=127.0.0.1:0
  trellis-controller destination --identity-svc-addr=trellis-identity.trellis.svc:8080 \\
      --identity-token-file=/var/run/secrets/tokens/trellis-identity-token --trust-anchors-file=/var/run/trellis/ca.crt

Once serving it prints one line on stdout ("identity" when gRPC is served over TLS):
  {"ready":true,"listen":"host:port","admin":"host:port","identity":"spiffe://..."}`,
    )
    .action(async (flags: DestinationFlags, cmd: Command) => {
      const usage = (message: string) =>
        cmd.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: "trellis.usage" });
      if (flags.source === "local" && !flags.localDir) usage("--local-dir is required with --source=local");
      if (flags.identitySvcAddr) {
        if (!flags.identityTokenFile) usage("--identity-token-file is required with --identity-svc-addr");
        if (!flags.trustAnchorsFile) usage("--trust-anchors-file is required with --identity-svc-addr");
      } else {
        for (const [flag, value] of [
          ["--identity-svc-name", flags.identitySvcName],
          ["--identity-token-file", flags.identityTokenFile],
          ["--trust-anchors-file", flags.trustAnchorsFile],
        ] as const)
          if (value) usage(`${flag} needs --identity-svc-addr (the identity service to ask)`);
      }
      process.exitCode = await runDestination(flags);
    });
  return command;
}

/** Runs the service until SIGTERM or SIGINT; resolves with the exit code. */
export async function runDestination(flags: DestinationFlags): Promise<number> {
  const log = logger("destination");
  const { stopped, dispose } = listenForStop();
  let serving: ServingIdentity | undefined;
  try {
    if (flags.identitySvcAddr) {
      const obtained = await obtainCertificate(flags, log, stopped);
      if (obtained === "stopped") return 0;
      serving = obtained;
    }
    const source = await openSource(flags, log);
    // Loaded here, not at the top: `trellis-controller identity` should not pay for them at startup.
    const { startDestinationService } = await import("./server.js");
    const service = await startDestinationService({
      listen: flags.listen,
      adminListen: flags.adminListen,
      source,
      clusterDomain: flags.clusterDomain,
      trustDomain: flags.trustDomain,
      ...(serving ? { tls: serving.tls } : {}),
      log,
    }).catch((err) => {
      source.stop();
      throw err;
    });
    const ready = { ready: true, listen: service.listen, admin: service.admin };
    process.stdout.write(`${JSON.stringify(serving ? { ...ready, identity: serving.identity } : ready)}\n`);
    const signal = await stopped;
    log.info({ signal }, "shutting down");
    await service.shutdown();
    return 0;
  } catch (err) {
    if (err instanceof DestinationError) log.error({ code: err.code }, `cannot start: ${err.message}`);
    else log.error({ err }, "cannot start");
    return 1;
  } finally {
    serving?.client.stop();
    dispose();
  }
}

interface ServingIdentity {
  /** The service's SPIFFE ID, the URI SAN of the certificate it serves. */
  identity: string;
  client: IdentityClient;
  tls: ServingTls;
}

/**
 * Starts the identity client for the service's own certificate and waits for the first one (or a
 * stop signal). Each failed attempt is logged with its reason and retried with backoff, as a proxy
 * does: a token not projected yet or an identity service still starting only delays readiness.
 */
async function obtainCertificate(
  flags: DestinationFlags,
  log: Logger,
  stopped: Promise<string>,
): Promise<ServingIdentity | "stopped"> {
  const addr = flags.identitySvcAddr as ListenAddress;
  const svcAddr = formatHostPort(addr.host, addr.port);
  const anchorsFile = flags.trustAnchorsFile as string;
  const identity = formatSpiffeId({
    trustDomain: flags.trustDomain,
    namespace: flags.identityNamespace,
    serviceAccount: flags.identityServiceAccount,
  });
  const svcName =
    flags.identitySvcName ??
    formatSpiffeId({
      trustDomain: flags.trustDomain,
      namespace: flags.identityNamespace,
      serviceAccount: "trellis-identity",
    });
  const trustAnchorsPem = await readFile(anchorsFile, "utf8").catch((err: Error) => {
    throw new DestinationError(
      "TRELLIS_E_DESTINATION_IDENTITY",
      `--trust-anchors-file ${anchorsFile}: ${err.message}`,
    );
  });
  const {
    IdentityClient,
    CredentialsCertificateProvider,
    IDENTITY_CLIENT_TIMING_DEFAULTS,
    TrustAnchorsProvider,
  } = await import("../../lib/identity/index.js");
  let client: IdentityClient;
  try {
    client = new IdentityClient({
      identity,
      trustAnchorsPem,
      tokenFile: flags.identityTokenFile as string,
      svcAddr,
      svcName,
      // Renewed and retried with the same defaults as a proxy's.
      ...IDENTITY_CLIENT_TIMING_DEFAULTS,
    });
  } catch (err) {
    throw new DestinationError("TRELLIS_E_DESTINATION_IDENTITY", (err as Error).message);
  }
  let unsubscribe = () => {};
  const first = new Promise<"ready">((resolve) => {
    unsubscribe = client.subscribe(() => resolve("ready"));
  });
  client.start();
  log.info({ identity, identityService: svcAddr, svcName }, "waiting for the service's certificate");
  const outcome = await Promise.race([first, stopped.then(() => "stopped" as const)]);
  unsubscribe();
  if (outcome === "stopped") {
    client.stop();
    return "stopped";
  }
  return {
    identity,
    client,
    tls: {
      certificate: new CredentialsCertificateProvider(client),
      clientAnchors: new TrustAnchorsProvider(trustAnchorsPem),
    },
  };
}

async function openSource(flags: DestinationFlags, log: Logger): Promise<Source> {
  if (flags.source === "local") {
    const { LocalSource } = await import("./local-source.js");
    return LocalSource.open({ dir: flags.localDir as string, clusterDomain: flags.clusterDomain, log });
  }
  const { loadKubeConfig } = await import("../k8s/client.js");
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
