/**
 * How the identity service learns who a token belongs to. One interface, two implementations: the
 * Kubernetes TokenReview API in a cluster (control/identity/kubernetes-verifier.ts) and a local ES256
 * key in the local mesh and tests (control/local/tokens.ts). It lives here, not in control/identity,
 * because control/local implements it and may not import a controller. The service never knows which
 * implementation it has.
 */

/** The outcome of checking one token: the ServiceAccount it proves, or why not. */
export type TokenVerdict =
  | { ok: true; namespace: string; serviceAccount: string }
  | {
      ok: false;
      /** Why the token was not accepted, for the log line (never echoes the token). */
      reason: string;
      /**
       * True when the token could not be checked at all (the API server is unreachable or refused
       * the review): the caller should retry later rather than treat the token as bad.
       */
      unavailable?: boolean;
    };

/** Checks ServiceAccount tokens presented to Certify. Implementations never throw. */
export interface TokenVerifier {
  /** Called once per Certify request with the raw token. */
  verify(token: string): Promise<TokenVerdict>;
}

/** Parses `system:serviceaccount:<ns>:<sa>`; undefined for any other username. */
export function parseServiceAccountUsername(
  username: string | undefined,
): { namespace: string; serviceAccount: string } | undefined {
  const m =
    /^system:serviceaccount:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/.exec(
      username ?? "",
    );
  if (!m) return undefined;
  return { namespace: m[1] as string, serviceAccount: m[3] as string };
}
