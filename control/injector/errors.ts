/**
 * The injector webhook's error catalogue. Codes are stable: they appear in log lines, in the bodies of
 * refused requests and in startup failures, so operators can search for them. Never reuse a code for
 * another meaning; retire it instead. Codes that answer an HTTP request name its status.
 */
import { type CatalogueEntry, type Refusal as CatalogueRefusal, catalogue } from "../../lib/errors.js";

export const INJECTOR_ERRORS = {
  // ── Refused requests (the process stays up) ─────────────────────────────────────────────────────
  /** The body is not JSON, not an AdmissionReview v1, or has no request or object. */
  TRELLIS_E_INJECTOR_BAD_REVIEW: { summary: "not an AdmissionReview v1 request", http: 400 },
  /** The body is larger than the webhook reads (an AdmissionReview of a Pod is far smaller). */
  TRELLIS_E_INJECTOR_TOO_LARGE: { summary: "the request body is too large", http: 413 },
  /** A path other than /inject. */
  TRELLIS_E_INJECTOR_NOT_FOUND: { summary: "no such path; the webhook serves POST /inject", http: 404 },
  /** A method other than POST on /inject. */
  TRELLIS_E_INJECTOR_METHOD: { summary: "method not allowed; the webhook serves POST /inject", http: 405 },
  /** Deciding failed unexpectedly: a bug; see the log line. */
  TRELLIS_E_INJECTOR_INTERNAL: { summary: "the injector failed to decide", http: 500 },

  // ── Refused reloads (the previous state stays in force) ────────────────────────────────────────
  /** trellis-config or the trust anchors' ConfigMap is missing or incomplete. */
  TRELLIS_E_INJECTOR_CONFIG: { summary: "the installed config is unusable" },
  /** The serving certificate or key is unreadable, does not parse, or they do not match. */
  TRELLIS_E_INJECTOR_TLS: { summary: "the serving certificate is unusable" },

  // ── Process-level ────────────────────────────────────────────────────────────────────────────────
  /** No usable Kubernetes client configuration (--kubeconfig unreadable, not in a cluster). */
  TRELLIS_E_INJECTOR_KUBERNETES: { summary: "cannot reach the Kubernetes API" },
  /** A listener could not bind (address in use, permission). */
  TRELLIS_E_INJECTOR_LISTEN: { summary: "cannot listen" },
} as const satisfies Record<string, CatalogueEntry>;

export type InjectorErrorCode = keyof typeof INJECTOR_ERRORS;

export type Refusal<C extends InjectorErrorCode = InjectorErrorCode> = CatalogueRefusal<C>;

export const { refuse, describe } = catalogue(INJECTOR_ERRORS);

/** The HTTP status a request refused with `code` gets. */
export function httpStatusOf(code: InjectorErrorCode): number {
  return (INJECTOR_ERRORS[code] as CatalogueEntry).http ?? 500;
}

/** Thrown for bad options and unusable files at start; the entry point turns it into an exit code. */
export class InjectorError extends Error {
  override name = "InjectorError";
  constructor(
    readonly code: InjectorErrorCode,
    readonly reason: string,
  ) {
    super(describe(code, reason));
  }
}
