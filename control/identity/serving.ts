/**
 * The identity service's own TLS certificate: a leaf for the service's SPIFFE ID, issued by the CA it
 * serves (the same Certify path a proxy's CSR takes), so proxies verify the service against the trust
 * anchors they already hold. It is renewed at 70 % of its remaining life and whenever the issuer
 * changes, and handed to grpc-js through a CertificateProvider, so the live server presents the new
 * certificate on the next handshake without a restart.
 *
 *   issuing ──ok──► current ──70 % of life / issuer changed──► issuing
 *      └──fail──► retry with backoff (the previous certificate keeps being served)
 */
import type { experimental } from "@grpc/grpc-js";
import { Backoff } from "../../lib/backoff.js";
import type { Logger } from "../../lib/log.js";
import * as x509 from "../../lib/x509.js";
import type { CertificateAuthority } from "./ca.js";
import { EC_P256, generateP256, privateKeyPem, SIGNING_ALGORITHM } from "./certs.js";
import { describe } from "./errors.js";

type IdentityCertificateUpdate = experimental.IdentityCertificateUpdate;
type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;

const REFRESH_FRACTION = 0.7;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;
// setTimeout fires at once for delays above 2^31 − 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ServingCertificateOptions {
  /** The service's SPIFFE ID: the only URI SAN of its certificate. */
  identity: string;
  /** The CA to sign with, asked on every renewal (it changes when the issuer files do). */
  ca: () => CertificateAuthority;
  lifetimeMs: number;
  clockSkewMs: number;
  log: Logger;
}

/** One serving certificate, PEM. */
export interface ServingPem {
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

export class ServingCertificate implements experimental.CertificateProvider {
  private current: ServingPem | undefined;
  private readonly identityListeners = new Set<IdentityCertificateUpdateListener>();
  private readonly changeListeners = new Set<(pem: ServingPem) => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly retry = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  private stopped = false;
  private renewing: Promise<boolean> | undefined;

  constructor(private readonly options: ServingCertificateOptions) {}

  /** Issues the first certificate; throws when it cannot (the service cannot serve without one). */
  async start(): Promise<ServingPem> {
    const first = await this.issue();
    if (!first.ok) throw new Error(first.reason);
    this.install(first.pem, "started");
    return first.pem;
  }

  /** The certificate being served. */
  pem(): ServingPem | undefined {
    return this.current;
  }

  /** Renews now (the issuer changed). Resolves true once a new certificate is installed. */
  renew(reason: string): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    // A renewal in flight may have used the previous issuer; chain another one after it.
    const previous = this.renewing ?? Promise.resolve(true);
    const next = previous.then(() => this.renewOnce(reason));
    this.renewing = next.finally(() => {
      if (this.renewing === next) this.renewing = undefined;
    });
    return next;
  }

  /** Called with every newly installed certificate. */
  onChange(listener: (pem: ServingPem) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  // grpc-js CertificateProvider. The server subscribes before it registers its own watcher, so the
  // current certificate must be delivered asynchronously or the server never sees it.
  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener) && this.current) listener(toUpdate(this.current));
    });
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  // No client certificates are asked for (proxies have none when they first certify).
  addCaCertificateListener(_listener: CaCertificateUpdateListener): void {}
  removeCaCertificateListener(_listener: CaCertificateUpdateListener): void {}

  private async renewOnce(reason: string): Promise<boolean> {
    if (this.stopped) return false;
    const result = await this.issue();
    if (this.stopped) return false;
    if (result.ok) {
      this.install(result.pem, reason);
      return true;
    }
    const delay = this.retry.next();
    this.options.log.error(
      {
        code: "TRELLIS_E_IDENTITY_SERVING_CERTIFICATE",
        retryInMs: delay,
        servingUntil: this.current?.notAfter,
      },
      describe("TRELLIS_E_IDENTITY_SERVING_CERTIFICATE", `${result.reason}; retrying`),
    );
    this.schedule(delay, "retry");
    return false;
  }

  private install(pem: ServingPem, reason: string): void {
    this.current = pem;
    this.retry.reset();
    const remaining = Math.max(0, pem.notAfter.getTime() - Date.now());
    const delay = Math.max(RETRY_MIN_MS, Math.round(remaining * REFRESH_FRACTION));
    this.options.log.info(
      { identity: this.options.identity, notAfter: pem.notAfter.toISOString(), renewInMs: delay, reason },
      "serving certificate installed",
    );
    this.schedule(delay, "renewal due");
    for (const listener of [...this.identityListeners]) listener(toUpdate(pem));
    for (const listener of [...this.changeListeners]) listener(pem);
  }

  private schedule(delayMs: number, reason: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(reason), Math.min(MAX_TIMER_MS, delayMs));
    this.timer.unref();
  }

  private async issue(): Promise<{ ok: true; pem: ServingPem } | { ok: false; reason: string }> {
    try {
      const keys = await generateP256();
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: "",
        keys,
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions: [
          new x509.SubjectAlternativeNameExtension([{ type: "url", value: this.options.identity }]),
        ],
      });
      const issued = await this.options.ca().issue(new Uint8Array(csr.rawData), this.options.identity, {
        lifetimeMs: this.options.lifetimeMs,
        clockSkewMs: this.options.clockSkewMs,
      });
      if (!issued.ok) return { ok: false, reason: describe(issued.code, issued.reason) };
      const pems = [issued.leafDer, ...issued.intermediatesDer].map((der) =>
        new x509.X509Certificate(der).toString("pem"),
      );
      return {
        ok: true,
        pem: {
          certChainPem: `${pems.join("\n")}\n`,
          keyPem: await privateKeyPem(keys.privateKey),
          notAfter: issued.validUntil,
        },
      };
    } catch (err) {
      return {
        ok: false,
        reason: `${EC_P256.namedCurve} key or CSR generation failed: ${(err as Error).message}`,
      };
    }
  }
}

function toUpdate(pem: ServingPem): IdentityCertificateUpdate {
  return { certificate: Buffer.from(pem.certChainPem), privateKey: Buffer.from(pem.keyPem) };
}
