/**
 * The Kubernetes client configuration every command and controller loads the same way: an explicit
 * kubeconfig file, else the in-cluster service account, else the default loading rules (KUBECONFIG, then
 * ~/.kube/config), optionally with another context as kubectl's --context; and one way
 * to name what an API call's failure was.
 */
import { KubeConfig } from "@kubernetes/client-node";

/** Loads the client configuration the way the `--kubeconfig` flags ask for; throws when there is none. */
export function loadKubeConfig(kubeconfig: string | undefined, context?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) {
    kc.loadFromFile(kubeconfig);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
    // With nothing configured, loadFromDefault silently falls back to http://localhost:8080: refuse that.
    if (!process.env.KUBECONFIG && kc.getCurrentCluster()?.server === "http://localhost:8080")
      throw new Error("no Kubernetes API server configured: pass --kubeconfig or run in a cluster");
  }
  if (context !== undefined) {
    // As kubectl's --context: a name the kubeconfig does not hold is an error, not the default.
    if (!kc.getContextObject(context)) throw new Error(`the kubeconfig has no context "${context}"`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new Error("the kubeconfig has no current cluster");
  return kc;
}

/** `HTTP <code>: <the Status message>` for an API error, else the error's message (a network failure). */
export function apiErrorMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.code === "number") {
    let detail = "";
    try {
      const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
      detail = (body as { message?: string })?.message ?? "";
    } catch {
      detail = String(e.body ?? "").slice(0, 200);
    }
    return `HTTP ${e.code}${detail ? `: ${detail}` : ""}`;
  }
  return e.message ?? String(err);
}
