/**
 * The installed config `meshctl inject --manual` renders proxies from: read from the cluster's
 * `trellis-config` and trust-anchors ConfigMaps when `--kubeconfig` or `--context` is given (the
 * default kubeconfig with `--context` alone, as kubectl reads it), else install's defaults
 * (what `meshctl install` with the same flags records) plus the trust anchors from a file. Flags
 * override either, so a proxy image or resources can be tried without reinstalling.
 */
import { readFileSync } from "node:fs";
import { CoreV1Api } from "@kubernetes/client-node";
import { type InjectorConfig, injectorConfig } from "../../control/injector/index.js";
import { apiErrorMessage, loadKubeConfig } from "../../control/k8s/index.js";
import { InputError, UsageError } from "../errors.js";
import {
  CONFIG_CONFIGMAP,
  FLAG_DEFAULTS,
  type MeshConfig,
  meshConfig,
  resolveValues,
  TRUST_ROOTS_CONFIGMAP,
  TRUST_ROOTS_KEY,
} from "../install/index.js";

/** The flags that choose and override the installed config. */
export interface ConfigFlags {
  controlPlaneNamespace: string;
  kubeconfig?: string;
  /** The kubeconfig's context to read the config from (default: its current one). */
  context?: string;
  identityTrustAnchorsFile?: string;
  clusterDomain?: string;
  trustDomain?: string;
  proxyImage?: string;
  proxyLogLevel?: string;
  proxyCpuRequest?: string;
  proxyCpuLimit?: string;
  proxyMemoryRequest?: string;
  proxyMemoryLimit?: string;
}

/** The config for --manual; throws UsageError or InputError naming what is missing. */
export async function loadConfig(flags: ConfigFlags): Promise<InjectorConfig> {
  let installed: Partial<MeshConfig>;
  let anchors: string | undefined;
  const fromApi = flags.kubeconfig !== undefined || flags.context !== undefined;
  if (fromApi) {
    ({ installed, anchors } = await fromCluster(
      flags.kubeconfig,
      flags.context,
      flags.controlPlaneNamespace,
    ));
  } else {
    const values = resolveValues({
      ...FLAG_DEFAULTS,
      crds: false,
      ha: false,
      namespace: flags.controlPlaneNamespace,
      clusterDomain: flags.clusterDomain ?? FLAG_DEFAULTS.clusterDomain,
      ...(flags.trustDomain !== undefined ? { trustDomain: flags.trustDomain } : {}),
      identityExternalIssuer: false,
      output: "yaml",
    });
    installed = meshConfig(values);
  }
  if (flags.identityTrustAnchorsFile !== undefined) {
    try {
      anchors = readFileSync(flags.identityTrustAnchorsFile, "utf8");
    } catch (err) {
      throw new InputError(
        `--identity-trust-anchors-file ${flags.identityTrustAnchorsFile}: ${(err as Error).message}`,
      );
    }
  }
  if (anchors === undefined)
    throw new UsageError(
      "--manual needs the mesh's trust anchors: pass --identity-trust-anchors-file (the file given to meshctl install), or --kubeconfig to read them from the cluster",
    );
  const overrides: Partial<MeshConfig> = Object.fromEntries(
    Object.entries({
      ...(fromApi && flags.trustDomain !== undefined ? { trustDomain: flags.trustDomain } : {}),
      proxyImage: flags.proxyImage,
      proxyLogLevel: flags.proxyLogLevel,
      proxyCpuRequest: flags.proxyCpuRequest,
      proxyCpuLimit: flags.proxyCpuLimit,
      proxyMemoryRequest: flags.proxyMemoryRequest,
      proxyMemoryLimit: flags.proxyMemoryLimit,
    }).filter(([, v]) => v !== undefined),
  );
  try {
    return injectorConfig({ ...installed, ...overrides }, anchors);
  } catch (err) {
    const from = fromApi ? `ConfigMap ${flags.controlPlaneNamespace}/${CONFIG_CONFIGMAP}` : "the flags";
    throw new InputError(`${from}: ${(err as Error).message}`);
  }
}

async function fromCluster(
  kubeconfig: string | undefined,
  context: string | undefined,
  namespace: string,
): Promise<{ installed: Partial<MeshConfig>; anchors: string | undefined }> {
  let api: CoreV1Api;
  try {
    api = loadKubeConfig(kubeconfig, context).makeApiClient(CoreV1Api);
  } catch (err) {
    const named = [
      kubeconfig === undefined ? "" : `--kubeconfig ${kubeconfig}`,
      context === undefined ? "" : `--context ${context}`,
    ];
    throw new InputError(`${named.filter(Boolean).join(" ")}: ${(err as Error).message}`);
  }
  const read = async (name: string) => {
    try {
      return (await api.readNamespacedConfigMap({ name, namespace })).data ?? {};
    } catch (err) {
      throw new InputError(
        `cannot read ConfigMap ${namespace}/${name} (${apiErrorMessage(err)}): is Trellis installed there? (--control-plane-namespace)`,
      );
    }
  };
  const [config, roots] = await Promise.all([read(CONFIG_CONFIGMAP), read(TRUST_ROOTS_CONFIGMAP)]);
  return { installed: config as Partial<MeshConfig>, anchors: roots[TRUST_ROOTS_KEY] };
}
