/**
 * `meshctl install`: prints the control plane's manifests for `kubectl apply -f -`. `--crds` prints the
 * CRDs, to apply first; without it, everything else in apply order. Every input is checked (flags,
 * then the identity files, then the injector's) before anything is printed, so a failed run prints
 * nothing on stdout.
 */
import { Command, Option } from "commander";
import {
  cpuArg,
  crdInstallObjects,
  domainArg,
  durationArg,
  FLAG_DEFAULTS,
  type InstallFlags,
  identityPki,
  imageTagArg,
  injectorServiceName,
  injectorTls,
  installObjects,
  memoryArg,
  namespaceArg,
  PROXY_HA_LIMITS,
  PROXY_LOG_LEVELS,
  PROXY_RESOURCES,
  readIssuerSecret,
  registryArg,
  resolveValues,
  serialize,
} from "../install/index.js";

export function installCommand(): Command {
  return new Command("install")
    .description("print the Trellis control plane's manifests, for kubectl apply -f -")
    .option("--crds", "print only the CustomResourceDefinitions (apply these first)", false)
    .option(
      "--ha",
      "high availability: 3 replicas of each service, PodDisruptionBudgets, anti-affinity, limits",
      false,
    )
    .addOption(
      new Option("--namespace <ns>", "namespace of the control plane")
        .default(FLAG_DEFAULTS.namespace)
        .argParser(namespaceArg),
    )
    .addOption(
      new Option("--cluster-domain <domain>", "the cluster's DNS domain")
        .default(FLAG_DEFAULTS.clusterDomain)
        .argParser(domainArg),
    )
    .addOption(
      new Option(
        "--trust-domain <domain>",
        "trust domain of the mesh's SPIFFE IDs (default: the cluster domain)",
      ).argParser(domainArg),
    )
    .addOption(
      new Option("--registry <registry>", "registry to pull the Trellis image from")
        .default(FLAG_DEFAULTS.registry)
        .argParser(registryArg),
    )
    .addOption(
      new Option("--image-tag <tag>", "tag of the Trellis image")
        .default(FLAG_DEFAULTS.imageTag)
        .argParser(imageTagArg),
    )
    .addOption(
      new Option("--proxy-log-level <level>", "log level of injected proxies")
        .choices(PROXY_LOG_LEVELS)
        .default(FLAG_DEFAULTS.proxyLogLevel),
    )
    .addOption(
      new Option(
        "--proxy-cpu-request <quantity>",
        `CPU request of injected proxies (default: ${PROXY_RESOURCES.cpuRequest})`,
      ).argParser(cpuArg),
    )
    .addOption(
      new Option(
        "--proxy-cpu-limit <quantity>",
        `CPU limit of injected proxies (default: none; ${PROXY_HA_LIMITS.cpuLimit} with --ha)`,
      ).argParser(cpuArg),
    )
    .addOption(
      new Option(
        "--proxy-memory-request <quantity>",
        `memory request of injected proxies (default: ${PROXY_RESOURCES.memoryRequest})`,
      ).argParser(memoryArg),
    )
    .addOption(
      new Option(
        "--proxy-memory-limit <quantity>",
        `memory limit of injected proxies (default: none; ${PROXY_HA_LIMITS.memoryLimit} with --ha)`,
      ).argParser(memoryArg),
    )
    .addOption(
      new Option(
        "--identity-issuance-lifetime <duration>",
        "lifetime of the certificates identity issues (Go duration)",
      )
        .default(FLAG_DEFAULTS.identityIssuanceLifetime)
        .argParser(durationArg),
    )
    .option(
      "--identity-trust-anchors-file <path>",
      "PEM trust anchor(s); with the two issuer files, instead of generating them",
    )
    .option(
      "--identity-issuer-certificate-file <path>",
      "PEM issuer certificate, signed by a trust anchor (ECDSA P-256, a CA)",
    )
    .option("--identity-issuer-key-file <path>", "PEM private key of the issuer certificate")
    .option(
      "--identity-external-issuer",
      "do not render the issuer Secret trellis-identity-issuer: someone else (cert-manager) owns it; install reads and validates it from the cluster, its ca.crt the anchors unless --identity-trust-anchors-file",
      false,
    )
    .option(
      "--kubeconfig <path>",
      "with --identity-external-issuer: kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )
    .option(
      "--context <name>",
      "with --identity-external-issuer: kubeconfig context (default: its current context)",
    )
    .option(
      "--injector-ca-file <path>",
      "PEM CA of the injector webhook's serving certificate (the caBundle); with the two files below, instead of generating them",
    )
    .option(
      "--injector-certificate-file <path>",
      "PEM serving certificate of the injector webhook, for trellis-injector.<namespace>.svc, signed by the CA",
    )
    .option("--injector-key-file <path>", "PEM private key of the injector's serving certificate")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .addHelpText(
      "after",
      `
Examples:
  meshctl install --crds | kubectl apply -f -   # first the CRDs
  meshctl install | kubectl apply -f -          # then the control plane, with a generated PKI
  meshctl install --ha --namespace mesh | kubectl apply -f -
  meshctl install --identity-trust-anchors-file ca.crt \\
      --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key > trellis.yaml
  meshctl install --identity-external-issuer | kubectl apply -f -   # cert-manager owns the issuer Secret

Without the three identity files, an ECDSA P-256 trust anchor (10 years) and issuer (1 year) are
generated on every run and the anchor's key is discarded; likewise the injector webhook's CA and
serving certificate (1 year) without the three --injector-* files. Given all six files, the output is
the same on every run.`,
    )
    .action(async (flags: InstallFlags) => {
      process.stdout.write(await runInstall(flags));
    });
}

/** The text `meshctl install` prints; throws UsageError (exit 2) or InputError (exit 1) first. */
export async function runInstall(flags: InstallFlags): Promise<string> {
  const values = resolveValues(flags);
  if (flags.crds) return serialize(crdInstallObjects(values), flags.output);
  const pki = await identityPki({
    ...(flags.identityTrustAnchorsFile !== undefined
      ? { trustAnchorsFile: flags.identityTrustAnchorsFile }
      : {}),
    ...(flags.identityIssuerCertificateFile !== undefined
      ? { issuerCertificateFile: flags.identityIssuerCertificateFile }
      : {}),
    ...(flags.identityIssuerKeyFile !== undefined ? { issuerKeyFile: flags.identityIssuerKeyFile } : {}),
    externalIssuer: flags.identityExternalIssuer,
    readIssuerSecret: () =>
      readIssuerSecret(values.namespace, {
        ...(flags.kubeconfig !== undefined && { path: flags.kubeconfig }),
        ...(flags.context !== undefined && { context: flags.context }),
      }),
    trustDomain: values.trustDomain,
  });
  const tls = await injectorTls({
    ...(flags.injectorCaFile !== undefined ? { caFile: flags.injectorCaFile } : {}),
    ...(flags.injectorCertificateFile !== undefined
      ? { certificateFile: flags.injectorCertificateFile }
      : {}),
    ...(flags.injectorKeyFile !== undefined ? { keyFile: flags.injectorKeyFile } : {}),
    serviceName: injectorServiceName(values.namespace),
  });
  return serialize(installObjects(values, pki, tls), flags.output);
}
