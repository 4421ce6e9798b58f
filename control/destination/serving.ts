/**
 * The destination service's own TLS certificate, obtained the way a proxy obtains its own: the
 * identity client sends the service's ServiceAccount token and a CSR to the identity service, and
 * renews the certificate at 70 % of its life. Proxies verify the service's SPIFFE ID against the
 * trust anchors they already hold (TRELLIS_PROXY_DESTINATION_SVC_NAME), so endpoints and the peer
 * identities they are checked against only ever come from the real destination service.
 *
 * grpc-js takes the certificate through a CertificateProvider; every renewal reaches the live server,
 * which presents it on the next handshake.
 */
import type { experimental } from "@grpc/grpc-js";
import type { CredentialSource, Credentials } from "../../proxy/identity/index.js";

type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;

/** Hands each certificate of a CredentialSource to grpc-js. */
export class CredentialsCertificateProvider implements experimental.CertificateProvider {
  private readonly listeners = new Map<IdentityCertificateUpdateListener, () => void>();

  constructor(private readonly source: CredentialSource) {}

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    if (this.listeners.has(listener)) return;
    // Delivered after this call returns: grpc-js adds the listener before it registers the server
    // that waits for the certificate, and an update delivered in between would never reach it.
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

  // Clients are not asked for a certificate: what the service hands out is the mesh's public
  // topology, and its integrity (not its secrecy) is what the server certificate protects.
  addCaCertificateListener(_listener: CaCertificateUpdateListener): void {}
  removeCaCertificateListener(_listener: CaCertificateUpdateListener): void {}
}
