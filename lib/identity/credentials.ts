/**
 * The seam between the identity client and everything that speaks mesh TLS: a source of the proxy's
 * current certificate and key, which changes on every renewal.
 */

/** One issued certificate with the key it was issued for. Immutable: a renewal makes a new object. */
export interface Credentials {
  /** The SPIFFE ID in the leaf's URI SAN. */
  readonly identity: string;
  /** PEM: the leaf first, then the intermediates up to (not including) the trust anchor. */
  readonly certChainPem: string;
  /** PEM, PKCS#8: the private key, generated in memory and never written anywhere. */
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Where mesh TLS gets its certificate. */
export interface CredentialSource {
  /** The current credentials; undefined until the first certificate arrives. */
  current(): Credentials | undefined;
  /**
   * Calls the listener with every new certificate (and at once with the current one, if any).
   * Returns the function that unsubscribes.
   */
  subscribe(listener: (credentials: Credentials) => void): () => void;
}

/** A source that never changes: for tests and for tools that already hold a certificate. */
export class StaticCredentials implements CredentialSource {
  constructor(private readonly credentials: Credentials) {}
  current(): Credentials {
    return this.credentials;
  }
  subscribe(listener: (credentials: Credentials) => void): () => void {
    listener(this.credentials);
    return () => {};
  }
}
