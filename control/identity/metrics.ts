/**
 * The identity service's metrics, in a registry of its own: leaves issued, Certify refusals by gRPC
 * status name, and the issuer's expiry (absolute and remaining, the latter computed at scrape time).
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { CertificateAuthority } from "./ca.js";

export class IdentityMetrics {
  readonly registry = new Registry();
  readonly issued: Counter;
  readonly certifyErrors: Counter<"code">;
  readonly issuerReloads: Counter<"result">;

  /** @param ca the issuer in use, read at every scrape. */
  constructor(ca: () => CertificateAuthority) {
    const registers = [this.registry];
    this.issued = new Counter({
      name: "identity_issued_leaf_certificates_total",
      help: "Leaf certificates issued to Certify callers",
      registers,
    });
    this.certifyErrors = new Counter({
      name: "identity_certify_errors_total",
      help: "Certify calls refused, by gRPC status code name",
      labelNames: ["code"] as const,
      registers,
    });
    this.issuerReloads = new Counter({
      name: "identity_issuer_reloads_total",
      help: "Changes of the CA files seen: applied (new issuer in use) or refused (previous issuer kept)",
      labelNames: ["result"] as const,
      registers,
    });
    new Gauge({
      name: "identity_issuer_expiration_timestamp_seconds",
      help: "NotAfter of the issuer certificate in use, in seconds since the epoch",
      registers,
      collect() {
        this.set(ca().issuerNotAfter.getTime() / 1000);
      },
    });
    new Gauge({
      name: "identity_issuer_cert_ttl_seconds",
      help: "Seconds until the issuer certificate in use expires (negative once expired)",
      registers,
      collect() {
        this.set((ca().issuerNotAfter.getTime() - Date.now()) / 1000);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
