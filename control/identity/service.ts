/**
 * Certify: the one decision the identity service makes. In order: every field present and well formed
 * (INVALID_ARGUMENT), the token proves a ServiceAccount (UNAUTHENTICATED, or UNAVAILABLE when it could
 * not be checked), the requested identity is that ServiceAccount's (PERMISSION_DENIED), then the CA
 * checks the CSR (FAILED_PRECONDITION for other SANs or keys) and signs with the issuer in use
 * (UNAVAILABLE when it is not valid). The decision is a plain function returning a result union; the
 * gRPC adapter at the bottom is the only place that turns refusals into statuses, log lines and
 * metrics.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../lib/log.js";
import { formatSpiffeId, parseSpiffeId } from "../../lib/spiffe.js";
import type {
  CertifyRequest,
  CertifyResponse,
  IdentityServer,
} from "../api/gen/trellis/identity/v1/identity.js";
import type { TokenVerifier } from "../common/token-verifier.js";
import type { CertificateAuthority } from "./ca.js";
import { parseCsr } from "./csr.js";
import { type CertifyErrorCode, describe, grpcStatusOf, type Refusal, refuse } from "./errors.js";
import type { IdentityMetrics } from "./metrics.js";

export interface CertifierOptions {
  trustDomain: string;
  verifier: TokenVerifier;
  /** The issuer in use; asked on every request, so a reloaded issuer signs from the next one on. */
  ca: () => CertificateAuthority;
  lifetimeMs: number;
  clockSkewMs: number;
}

export type CertifyOutcome =
  | { ok: true; identity: string; response: CertifyResponse }
  | (Refusal<CertifyErrorCode> & { identity?: string });

export class Certifier {
  constructor(private readonly options: CertifierOptions) {}

  /** Decides one request. Never throws. */
  async certify(request: CertifyRequest): Promise<CertifyOutcome> {
    const missing = [
      request.identity === "" && "identity",
      request.token.length === 0 && "token",
      request.certificateSigningRequest.length === 0 && "certificate_signing_request",
    ].filter(Boolean);
    if (missing.length > 0) return refuse("TRELLIS_E_IDENTITY_MISSING_FIELD", `${missing.join(", ")} empty`);

    const requested = parseSpiffeId(request.identity);
    if (!requested || requested.trustDomain !== this.options.trustDomain)
      return refuse(
        "TRELLIS_E_IDENTITY_BAD_IDENTITY",
        `identity ${JSON.stringify(request.identity.slice(0, 300))} is not spiffe://${this.options.trustDomain}/ns/<namespace>/sa/<serviceaccount>`,
      );
    // Parsed again by the CA; checked here too so a malformed CSR is INVALID_ARGUMENT before any token review.
    if (!parseCsr(request.certificateSigningRequest))
      return refuse(
        "TRELLIS_E_IDENTITY_CSR_MALFORMED",
        "certificate_signing_request is not a DER PKCS#10 request",
      );

    const verdict = await this.options.verifier.verify(request.token.toString("utf8"));
    if (!verdict.ok)
      return refuse(
        verdict.unavailable ? "TRELLIS_E_IDENTITY_TOKEN_REVIEW_FAILED" : "TRELLIS_E_IDENTITY_TOKEN_REJECTED",
        verdict.reason,
      );
    const proven = formatSpiffeId({
      trustDomain: this.options.trustDomain,
      namespace: verdict.namespace,
      serviceAccount: verdict.serviceAccount,
    });
    if (request.identity !== proven)
      return {
        ...refuse(
          "TRELLIS_E_IDENTITY_IDENTITY_MISMATCH",
          `asked for ${request.identity}, the token proves ${proven}`,
        ),
        identity: proven,
      };

    const issued = await this.options.ca().issue(request.certificateSigningRequest, proven, {
      lifetimeMs: this.options.lifetimeMs,
      clockSkewMs: this.options.clockSkewMs,
    });
    if (!issued.ok) return { ...issued, identity: proven };
    return {
      ok: true,
      identity: proven,
      response: {
        leafCertificate: Buffer.from(issued.leafDer),
        intermediateCertificates: issued.intermediatesDer.map((der) => Buffer.from(der)),
        validUntil: issued.validUntil,
      },
    };
  }
}

/** The grpc-js implementation of the Identity service around a Certifier. */
export function identityServer(certifier: Certifier, metrics: IdentityMetrics, log: Logger): IdentityServer {
  return {
    certify(
      call: grpc.ServerUnaryCall<CertifyRequest, CertifyResponse>,
      callback: grpc.sendUnaryData<CertifyResponse>,
    ) {
      const peer = call.getPeer();
      certifier.certify(call.request).then(
        (outcome) => {
          if (outcome.ok) {
            metrics.issued.inc();
            log.info(
              { peer, identity: outcome.identity, validUntil: outcome.response.validUntil?.toISOString() },
              "issued a leaf certificate",
            );
            callback(null, outcome.response);
            return;
          }
          const code = grpcStatusOf(outcome.code);
          const name = grpc.status[code];
          metrics.certifyErrors.inc({ code: name });
          const requested = call.request.identity.slice(0, 300);
          log.warn(
            { peer, code: outcome.code, grpcCode: name, requested, proven: outcome.identity },
            `refused Certify: ${describe(outcome.code, outcome.reason)}`,
          );
          callback({ code, details: describe(outcome.code, outcome.reason) });
        },
        (err: Error) => {
          // A bug: the certifier never throws for bad input.
          metrics.certifyErrors.inc({ code: grpc.status[grpc.status.INTERNAL] });
          log.error({ peer, err }, "Certify failed unexpectedly");
          callback({ code: grpc.status.INTERNAL, details: "internal error" });
        },
      );
    },
  };
}
