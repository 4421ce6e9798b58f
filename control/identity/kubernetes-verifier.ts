/**
 * Token verification in a cluster: a TokenReview (control/k8s) with the identity audience. Beyond what
 * the API server checks, we require that it says authenticated, that the audiences it reports include
 * ours, and that the user is a ServiceAccount. A review that cannot be made (API server down, RBAC) is
 * "unavailable", not "bad token".
 */
import { KubeConfig } from "@kubernetes/client-node";
import { IDENTITY_TOKEN_AUDIENCE } from "../../lib/spiffe.js";
import {
  parseServiceAccountUsername,
  type TokenVerdict,
  type TokenVerifier,
} from "../common/token-verifier.js";
import { loadKubeConfig } from "../k8s/client.js";
import { TokenReviewer } from "../k8s/token-review.js";

const MAX_TOKEN_BYTES = 16 * 1024;

export interface KubernetesVerifierOptions {
  /** A kubeconfig file; in-cluster configuration (or the default loading rules) when absent. */
  kubeconfig?: string;
  /** How long one TokenReview may take before the Certify call is answered UNAVAILABLE. */
  timeoutMs?: number;
}

export class KubernetesTokenVerifier implements TokenVerifier {
  private readonly reviewer: TokenReviewer;

  /** From a loaded KubeConfig, or from options (a kubeconfig path, else in-cluster). Throws when there is no cluster. */
  constructor(config: KubeConfig | KubernetesVerifierOptions = {}, options: { timeoutMs?: number } = {}) {
    const kc = config instanceof KubeConfig ? config : loadKubeConfig(config.kubeconfig);
    const timeoutMs = options.timeoutMs ?? (config instanceof KubeConfig ? undefined : config.timeoutMs);
    this.reviewer = new TokenReviewer(kc, timeoutMs === undefined ? {} : { timeoutMs });
  }

  static fromOptions(options: KubernetesVerifierOptions = {}): KubernetesTokenVerifier {
    return new KubernetesTokenVerifier(options);
  }

  async verify(token: string): Promise<TokenVerdict> {
    if (token.length === 0 || token.length > MAX_TOKEN_BYTES)
      return { ok: false, reason: `the token is ${token.length} bytes; expected a ServiceAccount token` };
    const review = await this.reviewer.review(token, [IDENTITY_TOKEN_AUDIENCE]);
    if (!review.ok) return { ok: false, unavailable: true, reason: review.reason };

    const status = review.status;
    if (status.authenticated !== true)
      return {
        ok: false,
        reason: `TokenReview: not authenticated${status.error ? `: ${status.error}` : ""}`,
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
