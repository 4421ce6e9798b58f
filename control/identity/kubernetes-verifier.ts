/**
 * Token verification in a cluster: a TokenReview with the identity audience. The API server checks the
 * signature, expiry, audience and that the pod and ServiceAccount still exist; we additionally require
 * that it says authenticated, that the audiences it reports include ours, and that the user is a
 * ServiceAccount. A review that cannot be made (API server down, RBAC) is "unavailable", not "bad token".
 */
import { AuthenticationV1Api, KubeConfig, type V1TokenReview } from "@kubernetes/client-node";
import { IDENTITY_TOKEN_AUDIENCE } from "../../lib/spiffe.js";
import { parseServiceAccountUsername, type TokenVerdict, type TokenVerifier } from "../common/token-verifier.js";

/** How long one TokenReview may take before the Certify call is answered UNAVAILABLE. */
export const TOKEN_REVIEW_TIMEOUT_MS = 10_000;
const MAX_TOKEN_BYTES = 16 * 1024;

export interface KubernetesVerifierOptions {
  /** A kubeconfig file; in-cluster configuration (or the default loading rules) when absent. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** Loads the client configuration the way the identity service's flags ask for; throws when there is none. */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
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
  if (!kc.getCurrentCluster()) throw new Error("the kubeconfig has no current cluster");
  return kc;
}

export class KubernetesTokenVerifier implements TokenVerifier {
  private readonly api: AuthenticationV1Api;
  private readonly timeoutMs: number;

  /** From a loaded KubeConfig, or from options (a kubeconfig path, else in-cluster). Throws when there is no cluster. */
  constructor(config: KubeConfig | KubernetesVerifierOptions = {}, options: { timeoutMs?: number } = {}) {
    const kc = config instanceof KubeConfig ? config : loadKubeConfig(config.kubeconfig);
    this.api = kc.makeApiClient(AuthenticationV1Api);
    this.timeoutMs =
      options.timeoutMs ??
      (config instanceof KubeConfig ? undefined : config.timeoutMs) ??
      TOKEN_REVIEW_TIMEOUT_MS;
  }

  static fromOptions(options: KubernetesVerifierOptions = {}): KubernetesTokenVerifier {
    return new KubernetesTokenVerifier(options);
  }

  async verify(token: string): Promise<TokenVerdict> {
    if (token.length === 0 || token.length > MAX_TOKEN_BYTES)
      return { ok: false, reason: `the token is ${token.length} bytes; expected a ServiceAccount token` };
    let review: V1TokenReview;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`TokenReview took longer than ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
      review = await Promise.race([
        this.api.createTokenReview({
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [IDENTITY_TOKEN_AUDIENCE] },
          },
        }),
        timeout,
      ]);
    } catch (err) {
      return { ok: false, unavailable: true, reason: `TokenReview failed: ${apiErrorMessage(err)}` };
    } finally {
      clearTimeout(timer);
    }

    const status = review.status;
    if (status?.authenticated !== true)
      return {
        ok: false,
        reason: `TokenReview: not authenticated${status?.error ? `: ${status.error}` : ""}`,
      };
    if (status.audiences && !status.audiences.includes(IDENTITY_TOKEN_AUDIENCE))
      return {
        ok: false,
        reason: `TokenReview: the token's audiences (${status.audiences.join(", ")}) do not include ${IDENTITY_TOKEN_AUDIENCE}`,
      };
    const username = status.user?.username;
    const sa = parseServiceAccountUsername(username);
    if (!sa) return { ok: false, reason: `TokenReview: user "${username}" is not a ServiceAccount` };
    return { ok: true, ...sa };
  }
}

function apiErrorMessage(err: unknown): string {
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
