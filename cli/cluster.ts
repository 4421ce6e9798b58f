/**
 * How meshctl reaches a cluster: the kubeconfig as kubectl reads it (`--kubeconfig`, else
 * KUBECONFIG, else ~/.kube/config; `--context`), one JSON client over it, and the one line a user
 * reads when the API server cannot be reached at all. `check`, `viz check` and the in-cluster viz
 * sources connect through here.
 */
import type { Command } from "commander";
import { apiErrorMessage, loadKubeConfig, RestClient } from "../control/k8s/index.js";
import { InputError } from "./errors.js";

/** The kubeconfig flags, as the commands that talk to a cluster take them. */
export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

/** Help lines of the two flags, so every command says them the same way. */
export const KUBECONFIG_HELP = "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)";
export const CONTEXT_HELP = "kubeconfig context to use (default: its current context)";

/** Adds `--kubeconfig` and `--context` to a command that talks to a cluster. */
export function kubeOptions(cmd: Command): Command {
  return cmd.option("--kubeconfig <path>", KUBECONFIG_HELP).option("--context <name>", CONTEXT_HELP);
}

/** The kubeconfig could not be loaded: no cluster is configured, or the file or context is wrong. */
export class KubeconfigError extends InputError {
  override name = "KubeconfigError";
}

/** A cluster meshctl reaches. */
export interface Connected {
  api: RestClient;
  /** The namespace of the kubeconfig's context, kubectl's default for -n; undefined when it names none. */
  contextNamespace: string | undefined;
}

/**
 * A client of the cluster the flags name, once one request proved its API server answers. Throws an
 * InputError when the server cannot be reached, a KubeconfigError when the kubeconfig cannot be loaded.
 */
export async function connect(flags: KubeFlags): Promise<Connected> {
  let connected: Connected;
  try {
    const kc = loadKubeConfig(flags.kubeconfig, flags.context);
    const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
    connected = { api: new RestClient(kc), contextNamespace };
  } catch (err) {
    throw new KubeconfigError(`cannot load the kubeconfig: ${apiErrorMessage(err)}`);
  }
  const { api } = connected;
  const reach = await api.getText("/version");
  if (!reach.ok && reach.status === 0)
    throw new InputError(`cannot reach the Kubernetes API server at ${api.serverUrl}: ${reach.reason}`);
  return connected;
}
