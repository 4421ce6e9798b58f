/**
 * The injector's metrics, in a registry of its own: admission requests by result, Events by outcome,
 * reloads of the installed config and of the serving certificate, and that certificate's expiry.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/** What became of one request to /inject. */
export type RequestResult = "injected" | "skipped" | "denied" | "bad_request" | "error";

export class InjectorMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"result">;
  readonly events: Counter<"result">;
  readonly configReloads: Counter<"result">;
  readonly certificateReloads: Counter<"result">;

  /** @param notAfter the serving certificate in use's NotAfter, read at every scrape. */
  constructor(notAfter: () => Date | undefined) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "injector_admission_requests_total",
      help: "Requests to /inject by result: injected, skipped, denied, bad_request (not an AdmissionReview), error",
      labelNames: ["result"] as const,
      registers,
    });
    // Every result from the start, so a query over rates sees zeros rather than nothing.
    for (const result of ["injected", "skipped", "denied", "bad_request", "error"] satisfies RequestResult[])
      this.requests.inc({ result }, 0);
    this.events = new Counter({
      name: "injector_events_total",
      help: "Events about admitted pods: written, failed (the API refused), dropped (too many waiting)",
      labelNames: ["result"] as const,
      registers,
    });
    this.configReloads = new Counter({
      name: "injector_config_reloads_total",
      help: "Changes of the installed config seen: applied, or refused (the previous config kept)",
      labelNames: ["result"] as const,
      registers,
    });
    this.certificateReloads = new Counter({
      name: "injector_serving_certificate_reloads_total",
      help: "Changes of the serving certificate files seen: applied, or refused (the previous one kept)",
      labelNames: ["result"] as const,
      registers,
    });
    new Gauge({
      name: "injector_serving_cert_expiration_timestamp_seconds",
      help: "NotAfter of the serving certificate in use, in seconds since the epoch",
      registers,
      collect() {
        const t = notAfter();
        if (t) this.set(t.getTime() / 1000);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
