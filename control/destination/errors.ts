/**
 * The destination service's error catalogue. Codes are stable: they appear in log lines, in the details
 * of ended streams and in startup failures, so operators can search for them. Never reuse a code for
 * another meaning; retire it instead. Codes that end a stream map to exactly one gRPC status, the one
 * destination.proto documents.
 */
import { status } from "@grpc/grpc-js";
import {
  type AnsweringCode,
  type CatalogueEntry,
  type Refusal as CatalogueRefusal,
  catalogue,
} from "../../lib/errors.js";

export const DESTINATION_ERRORS = {
  // ── Ended streams ────────────────────────────────────────────────────────────────────────────────
  /** The authority is empty, too long, has a bad port or characters no host name has. */
  TRELLIS_E_DESTINATION_BAD_AUTHORITY: {
    summary: "the authority does not parse",
    grpc: status.INVALID_ARGUMENT,
  },
  /** A short name (`svc`) came without context_namespace to resolve it in. */
  TRELLIS_E_DESTINATION_NO_NAMESPACE: {
    summary: "a short name needs the caller's namespace",
    grpc: status.INVALID_ARGUMENT,
  },
  /** The name is outside the cluster domain, or the IP is no Service's ClusterIP: connect directly. */
  TRELLIS_E_DESTINATION_NOT_IN_CLUSTER: { summary: "not a name in the cluster", grpc: status.NOT_FOUND },
  /** The stream's queue overflowed: the client did not read fast enough. It should reconnect. */
  TRELLIS_E_DESTINATION_STREAM_OVERFLOW: {
    summary: "the stream fell behind and was closed",
    grpc: status.RESOURCE_EXHAUSTED,
  },

  // ── Refused resources (the last good one of the same kind and name stays in force) ────────────────
  /** A YAML file does not parse; everything it held before stays as it was. */
  TRELLIS_E_DESTINATION_BAD_YAML: { summary: "a file is not valid YAML" },
  /** A document is not a resource this source knows (apiVersion/kind) or lacks metadata. */
  TRELLIS_E_DESTINATION_BAD_RESOURCE: { summary: "a document is not a known resource" },
  /** A Service (local.trellis.dev/v1) is invalid: ports, endpoints, addresses. */
  TRELLIS_E_DESTINATION_INVALID_SERVICE: { summary: "invalid Service" },
  /** A ServiceProfile is invalid: a regex, a duration, a status range, a missing or unknown field. */
  TRELLIS_E_DESTINATION_INVALID_PROFILE: { summary: "invalid ServiceProfile" },
  /** A TrafficSplit is invalid: weights of the wrong type for its version, no backends. */
  TRELLIS_E_DESTINATION_INVALID_SPLIT: { summary: "invalid TrafficSplit" },
  /** Two documents define the same resource; the first (by file name, then position) wins. */
  TRELLIS_E_DESTINATION_DUPLICATE: { summary: "a resource is defined twice" },

  // ── Process-level ─────────────────────────────────────────────────────────────────────────────────
  /** The local directory cannot be read. */
  TRELLIS_E_DESTINATION_LOCAL_DIR: { summary: "the local resource directory is unusable" },
  /** No usable Kubernetes client configuration (--kubeconfig unreadable, not in a cluster). */
  TRELLIS_E_DESTINATION_KUBERNETES: { summary: "cannot reach the Kubernetes API" },
  /** A listener could not bind (address in use, permission). */
  TRELLIS_E_DESTINATION_LISTEN: { summary: "cannot listen" },
  /** The service's own certificate cannot be asked for: unreadable anchors or token, bad options. */
  TRELLIS_E_DESTINATION_IDENTITY: { summary: "cannot obtain the service's certificate" },
} as const satisfies Record<string, CatalogueEntry>;

export type DestinationErrorCode = keyof typeof DESTINATION_ERRORS;

/** The codes that end a stream. */
export type StreamErrorCode = AnsweringCode<typeof DESTINATION_ERRORS>;

/** An expected failure, returned rather than thrown. */
export type Refusal<C extends DestinationErrorCode = DestinationErrorCode> = CatalogueRefusal<C>;

export const { refuse, grpcStatusOf, describe } = catalogue(DESTINATION_ERRORS);

/** Thrown for bad options and unusable inputs at start; the entry point turns it into an exit code. */
export class DestinationError extends Error {
  override name = "DestinationError";
  constructor(
    readonly code: DestinationErrorCode,
    readonly reason: string,
  ) {
    super(describe(code, reason));
  }
}
