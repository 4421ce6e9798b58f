/**
 * The proxy's key pair and its certificate signing request. The key is generated in memory with
 * WebCrypto; the private key leaves WebCrypto once, as the PKCS#8 PEM that node:tls needs, and is never
 * written anywhere.
 */
import * as x509 from "../../control/api/x509.js";
import { type CertifyFailure, failure } from "./errors.js";

/** A fresh key pair with the CSR that asks for a certificate of its public key. */
export interface KeyMaterial {
  /** PKCS#8 PEM of the private key, for node:tls and grpc-js. */
  readonly keyPem: string;
  /** DER SubjectPublicKeyInfo: what a returned leaf must certify. */
  readonly publicKeySpki: Buffer;
  /** DER PKCS#10 request whose only SAN is the identity URI, with an empty subject. */
  readonly csrDer: Buffer;
}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { ...ECDSA_P256, hash: "SHA-256" } as const;

export type KeyResult = { ok: true; key: KeyMaterial } | { ok: false; error: CertifyFailure };

/**
 * Generates an ECDSA P-256 key and a CSR for `identity`. The subject is left empty: the SPIFFE ID in
 * the URI SAN is the identity, and an empty subject leaves the CA nothing else to misread.
 */
export async function generateKeyMaterial(identity: string): Promise<KeyResult> {
  try {
    // Extractable only because node:tls takes the private key as PEM; nothing else exports it.
    const keys = (await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "",
      keys,
      signingAlgorithm: SIGNING,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }])],
    });
    const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
    const spki = await crypto.subtle.exportKey("spki", keys.publicKey);
    return {
      ok: true,
      key: {
        keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
        publicKeySpki: Buffer.from(spki),
        csrDer: Buffer.from(csr.rawData),
      },
    };
  } catch (err) {
    return { ok: false, error: failure("TRELLIS_E_IDENTITY_CLIENT_KEY", (err as Error).message) };
  }
}
