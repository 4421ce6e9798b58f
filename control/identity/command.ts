/**
 * `trellis-controller identity`: the flags, their validation (a bad flag is a usage error, exit 2,
 * naming the flag), and the run: start the service, print one ready line on stdout, serve until SIGTERM
 * or SIGINT, shut down gracefully. Startup failures (unusable CA files, unusable token key, a port in
 * use) are logged naming the file or address and end with exit code 1.
 */
import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import type { ListenAddress } from "../../lib/address.js";
import { EXIT_USAGE } from "../../lib/exit-codes.js";
import { logger } from "../../lib/log.js";
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId } from "../../lib/spiffe.js";
import {
  nonNegativeDuration,
  ownIdentityOptions,
  parseListenAddress,
  positiveDuration,
  trustDomain,
} from "../common/flags.js";
import { listenForStop } from "../common/signals.js";
import type { TokenVerifier } from "../common/token-verifier.js";
import { LocalTokenVerifier } from "../local/tokens.js";
import { IdentityError } from "./errors.js";
import { KubernetesTokenVerifier } from "./kubernetes-verifier.js";
import { startIdentityService } from "./server.js";

/** The parsed flags of `trellis-controller identity`. */
export interface IdentityFlags {
  listen: ListenAddress;
  adminListen: ListenAddress;
  trustDomain: string;
  trustAnchorsFile: string;
  issuerCertificateFile: string;
  issuerKeyFile: string;
  issuanceLifetime: number;
  clockSkewAllowance: number;
  tokenVerifier: "kubernetes" | "local";
  localTokenPublicKeyFile?: string;
  kubeconfig?: string;
  identityNamespace: string;
  identityServiceAccount: string;
}

/** Builds the `identity` subcommand; its action sets process.exitCode. */
export function identityCommand(): Command {
  const [identityNamespace, identityServiceAccount] = ownIdentityOptions("trellis-identity");
  const command = new Command("identity")
    .description("run the mesh CA: certify proxies' CSRs against their ServiceAccount tokens")
    .addOption(
      new Option("--listen <host:port>", "gRPC (TLS) address of the Certify API")
        .default(parseListenAddress("0.0.0.0:8080"), "0.0.0.0:8080")
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option("--admin-listen <host:port>", "HTTP address of /metrics, /ready and /live")
        .default(parseListenAddress("0.0.0.0:9990"), "0.0.0.0:9990")
        .argParser(parseListenAddress),
    )
    .addOption(
      new Option("--trust-domain <domain>", "trust domain of the SPIFFE IDs issued")
        .default(DEFAULT_TRUST_DOMAIN)
        .argParser(trustDomain),
    )
    .addOption(
      new Option("--trust-anchors-file <path>", "PEM file of the trust anchor(s)").makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--issuer-certificate-file <path>",
        "PEM file of the issuer certificate",
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option("--issuer-key-file <path>", "PEM file of the issuer's private key").makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--issuance-lifetime <duration>",
        "lifetime of issued certificates (Go duration: 24h, 90s, 1h30m)",
      )
        .default(positiveDuration("24h"), "24h")
        .argParser(positiveDuration),
    )
    .addOption(
      new Option("--clock-skew-allowance <duration>", "how far certificates are back-dated")
        .default(nonNegativeDuration("20s"), "20s")
        .argParser(nonNegativeDuration),
    )
    .addOption(
      new Option("--token-verifier <kind>", "how ServiceAccount tokens are checked")
        .choices(["kubernetes", "local"])
        .default("kubernetes"),
    )
    .addOption(
      new Option(
        "--local-token-public-key-file <path>",
        "PEM public key (ES256) of the local mesh's tokens; required with --token-verifier=local",
      ),
    )
    .addOption(
      new Option("--kubeconfig <path>", "kubeconfig for TokenReview; in-cluster configuration when absent"),
    )
    .addOption(identityNamespace)
    .addOption(identityServiceAccount)
    .addHelpText(
      "after",
      `
Examples:
  trellis-controller identity --trust-anchors-file=ca.crt \\
      --issuer-certificate-file=issuer.crt --issuer-key-file=issuer.key
  trellis-controller identity --listen=127.0.0.1:0 --admin-listen=127.0.0.1:0 --token-verifier=local \\
      --local-token-public-key-file=token-key.pub --trust-anchors-file=ca.crt \\
      --issuer-certificate-file=issuer.crt --issuer-key-file=issuer.key --issuance-lifetime=1h

Once serving it prints one line on stdout:
  {"ready":true,"identity":"spiffe://...","listen":"host:port","admin":"host:port"}`,
    )
    .action(async (flags: IdentityFlags, cmd: Command) => {
      if (flags.tokenVerifier === "local" && !flags.localTokenPublicKeyFile)
        cmd.error("error: --local-token-public-key-file is required with --token-verifier=local", {
          exitCode: EXIT_USAGE,
          code: "trellis.usage",
        });
      process.exitCode = await runIdentity(flags);
    });
  return command;
}

/** Runs the service until SIGTERM or SIGINT; resolves with the exit code. */
export async function runIdentity(flags: IdentityFlags): Promise<number> {
  const log = logger("identity");
  const identity = formatSpiffeId({
    trustDomain: flags.trustDomain,
    namespace: flags.identityNamespace,
    serviceAccount: flags.identityServiceAccount,
  });
  const { stopped, dispose } = listenForStop();
  try {
    const verifier = await buildVerifier(flags);
    const service = await startIdentityService({
      listen: flags.listen,
      adminListen: flags.adminListen,
      trustDomain: flags.trustDomain,
      files: {
        trustAnchors: flags.trustAnchorsFile,
        issuerCertificate: flags.issuerCertificateFile,
        issuerKey: flags.issuerKeyFile,
      },
      lifetimeMs: flags.issuanceLifetime,
      clockSkewMs: flags.clockSkewAllowance,
      verifier,
      serviceIdentity: identity,
      log,
    });
    process.stdout.write(
      `${JSON.stringify({ ready: true, identity, listen: service.listen, admin: service.admin })}\n`,
    );
    const signal = await stopped;
    log.info({ signal }, "shutting down");
    await service.shutdown();
    return 0;
  } catch (err) {
    if (err instanceof IdentityError) {
      log.error({ code: err.code }, `cannot start: ${err.message}`);
    } else {
      log.error({ err }, "cannot start");
    }
    return 1;
  } finally {
    dispose();
  }
}

async function buildVerifier(flags: IdentityFlags): Promise<TokenVerifier> {
  if (flags.tokenVerifier === "local") {
    const path = flags.localTokenPublicKeyFile as string;
    try {
      return await LocalTokenVerifier.fromPublicKeyPem(await readFile(path, "utf8"));
    } catch (err) {
      throw new IdentityError(
        "TRELLIS_E_IDENTITY_TOKEN_KEY",
        `--local-token-public-key-file ${path}: ${(err as Error).message}`,
      );
    }
  }
  try {
    return KubernetesTokenVerifier.fromOptions(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {});
  } catch (err) {
    throw new IdentityError(
      "TRELLIS_E_IDENTITY_OPTIONS",
      `${flags.kubeconfig ? `--kubeconfig ${flags.kubeconfig}` : "Kubernetes client configuration"}: ${(err as Error).message}`,
    );
  }
}
