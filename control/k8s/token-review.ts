/**
 * The TokenReview call: asks the API server whether a token authenticates for the given audiences.
 * The API server checks the signature, expiry, audience and that the pod and ServiceAccount still
 * exist; what to make of its answer is the caller's decision. A review that cannot be made (API server
 * down, RBAC, a timeout) is a failure of its own, distinct from a token the API server rejected.
 */
import { AuthenticationV1Api, type KubeConfig, type V1TokenReviewStatus } from "@kubernetes/client-node";
import { apiErrorMessage } from "./client.js";

/** How long one TokenReview may take before it counts as failed. */
export const TOKEN_REVIEW_TIMEOUT_MS = 10_000;

/** The API server's answer, or why there is none. */
export type TokenReviewResult =
  | { ok: true; status: V1TokenReviewStatus }
  | {
      ok: false;
      /** Why the review could not be made (`TokenReview failed: HTTP 403: ...`); never echoes the token. */
      reason: string;
    };

export class TokenReviewer {
  private readonly api: AuthenticationV1Api;
  private readonly timeoutMs: number;

  constructor(kc: KubeConfig, options: { timeoutMs?: number } = {}) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
    this.timeoutMs = options.timeoutMs ?? TOKEN_REVIEW_TIMEOUT_MS;
  }

  /** Creates one TokenReview; never throws. A review without a status answers an empty status. */
  async review(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`TokenReview took longer than ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
      const review = await Promise.race([
        this.api.createTokenReview({
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [...audiences] },
          },
        }),
        timeout,
      ]);
      return { ok: true, status: review.status ?? {} };
    } catch (err) {
      return { ok: false, reason: `TokenReview failed: ${apiErrorMessage(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }
}
