/**
 * Mesh TLS: TLS 1.3 only, both sides present a certificate chaining to the trust anchors, and the
 * client refuses any server that does not carry the SPIFFE ID the destination announced. The
 * certificate comes from the CredentialSource and is swapped in on every renewal: new connections
 * use the new one, established connections keep going.
 */

import tls, { type PeerCertificate, type SecureContext, type TLSSocket } from "node:tls";
import type { CredentialSource, Credentials } from "../../lib/identity/credentials.js";
import { uriSans } from "../../lib/spiffe.js";
import type { ReadInto } from "../transport/reads.js";

/** ALPN of the HTTP/2 connection that carries HTTP/2 and gRPC between two proxies, multiplexed. */
export const ALPN_H2 = "h2";
/** ALPN of plain HTTP/1.1 over mTLS, which the inbound side takes from mesh clients that do not speak mux. */
export const ALPN_HTTP1 = "http/1.1";
/** ALPN of a connection carrying one opaque TCP stream (or one HTTP/1.1 Upgrade) to an app port. */
export const ALPN_OPAQUE = "trellis.dev/opaque/v1";
/** ALPN of the connection carrying HTTP/1.1 between two proxies, its keep-alive connections multiplexed. */
export const ALPN_MUX = "trellis.dev/mux/v1";

export class PeerIdentityError extends Error {
  readonly code = "TRELLIS_E_PROXY_PEER_IDENTITY";
  constructor(
    readonly expected: string,
    readonly presented: string[],
  ) {
    super(
      `the peer presented ${presented.length > 0 ? presented.join(", ") : "no SPIFFE ID"}, expected ${expected}`,
    );
  }
}

/** The SPIFFE ID in a peer certificate's URI SAN, if exactly one. */
export function spiffeIdOf(cert: PeerCertificate | undefined): string | undefined {
  const uris = uriSans(cert?.subjectaltname).filter((u) => u.startsWith("spiffe://"));
  return uris.length === 1 ? uris[0] : undefined;
}

export class MeshTls {
  private credentials: Credentials | undefined;
  private clientContext: SecureContext | undefined;
  private readonly servers = new Set<tls.Server>();
  private readonly unsubscribe: () => void;

  constructor(
    source: CredentialSource,
    private readonly trustAnchorsPem: string,
  ) {
    this.unsubscribe = source.subscribe((c) => this.rotate(c));
  }

  get ready(): boolean {
    return this.credentials !== undefined;
  }

  get identity(): string | undefined {
    return this.credentials?.identity;
  }

  close(): void {
    this.unsubscribe();
  }

  private contextOptions(c: Credentials): tls.SecureContextOptions {
    return {
      key: c.keyPem,
      cert: c.certChainPem,
      ca: this.trustAnchorsPem,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
    };
  }

  private rotate(c: Credentials): void {
    this.credentials = c;
    this.clientContext = tls.createSecureContext(this.contextOptions(c));
    for (const server of this.servers) server.setSecureContext(this.contextOptions(c));
  }

  /**
   * A TLS server that requires a client certificate chaining to the anchors. Until the first
   * certificate arrives it has none, so handshakes fail; the proxy does not listen before that.
   * Half-open: a peer that is done sending still gets the rest of what it is owed (an opaque
   * stream's answer after the client's FIN).
   */
  createServer(alpn: string[], handshakeTimeoutMs: number): tls.Server {
    const c = this.credentials;
    const server = tls.createServer({
      ...(c ? this.contextOptions(c) : { minVersion: "TLSv1.3", ca: this.trustAnchorsPem }),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: alpn,
      handshakeTimeout: handshakeTimeoutMs,
      allowHalfOpen: true,
    });
    this.servers.add(server);
    server.once("close", () => this.servers.delete(server));
    return server;
  }

  /**
   * A connection to a peer proxy, returned at once for an HTTP client to write into: TLS holds
   * every byte back until the handshake is done, and a peer without `expectedIdentity` fails the
   * handshake (the socket errors with PeerIdentityError), so nothing reaches it. A peer that did not
   * agree to `alpn` is hung up on as the handshake completes, before anything is written to it.
   */
  connectNow(
    host: string,
    port: number,
    expectedIdentity: string,
    alpn: string,
    onread?: ReadInto,
  ): TLSSocket {
    const context = this.clientContext;
    if (!context) throw new Error("the proxy has no certificate yet");
    const socket = tls.connect({
      host,
      port,
      secureContext: context,
      ALPNProtocols: [alpn],
      // Decrypted bytes go straight into the caller's buffer (the mux connection's), when it has one.
      ...(onread ? { onread } : {}),
      // The peer is named by its SPIFFE ID, not by the address we dial.
      checkServerIdentity: (_host, cert) => {
        const presented = uriSans(cert.subjectaltname);
        if (presented.length === 1 && presented[0] === expectedIdentity) return undefined;
        return new PeerIdentityError(expectedIdentity, presented);
      },
    });
    socket.setNoDelay(true);
    // Registered before any caller's: a caller's 'secureConnect' finds the socket already destroyed.
    socket.once("secureConnect", () => {
      if (socket.alpnProtocol !== alpn)
        socket.destroy(
          new Error(`the peer at ${host}:${port} did not agree to ${alpn} (ALPN ${socket.alpnProtocol})`),
        );
    });
    return socket;
  }

  /**
   * Connects to a peer proxy and resolves once the handshake is done and the peer proved
   * `expectedIdentity`; nothing is sent to a peer that did not. With `onread`, decrypted bytes go
   * into its buffer instead of the socket's stream.
   */
  connect(
    host: string,
    port: number,
    expectedIdentity: string,
    alpn: string,
    timeoutMs: number,
    onread?: ReadInto,
  ): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      // A refused identity destroys the socket with the PeerIdentityError itself.
      const socket = this.connectNow(host, port, expectedIdentity, alpn, onread);
      const timer = setTimeout(() => {
        socket.destroy(new Error(`connecting to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        // A peer that refused the protocol: connectNow destroyed the socket, and 'error' rejects.
        if (!socket.destroyed) resolve(socket);
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
}
