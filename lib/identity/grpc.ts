/**
 * Mesh credentials for grpc-js, which takes certificates through CertificateProviders: the workload's
 * own certificate from a CredentialSource (each renewal reaches live servers and channels, which use
 * it from their next handshake), and the trust anchors.
 *
 * Both deliver on a microtask after a listener is added: grpc-js adds its listener before it registers
 * what waits for the certificate, and an update delivered in between would never reach it.
 */
import type { experimental } from "@grpc/grpc-js";
import type { CredentialSource, Credentials } from "./credentials.js";

type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;

/** The workload's certificate and key, as they renew. */
export class CredentialsCertificateProvider implements experimental.CertificateProvider {
  private readonly listeners = new Map<IdentityCertificateUpdateListener, () => void>();

  constructor(private readonly source: CredentialSource) {}

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    if (this.listeners.has(listener)) return;
    this.listeners.set(
      listener,
      this.source.subscribe((c: Credentials) =>
        queueMicrotask(() => {
          if (this.listeners.has(listener))
            listener({ certificate: Buffer.from(c.certChainPem), privateKey: Buffer.from(c.keyPem) });
        }),
      ),
    );
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.listeners.get(listener)?.();
    this.listeners.delete(listener);
  }

  addCaCertificateListener(_listener: CaCertificateUpdateListener): void {}
  removeCaCertificateListener(_listener: CaCertificateUpdateListener): void {}
}

/** The trust anchors (PEM), which verify the other side's certificate chain. */
export class TrustAnchorsProvider implements experimental.CertificateProvider {
  private readonly listeners = new Set<CaCertificateUpdateListener>();

  constructor(private readonly anchorsPem: string) {}

  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.listeners.add(listener);
    queueMicrotask(() => {
      if (this.listeners.has(listener)) listener({ caCertificate: Buffer.from(this.anchorsPem) });
    });
  }

  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  addIdentityCertificateListener(_listener: IdentityCertificateUpdateListener): void {}
  removeIdentityCertificateListener(_listener: IdentityCertificateUpdateListener): void {}
}
