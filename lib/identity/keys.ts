/**
 * The proxy's key pair and its certificate signing request. The key is generated in memory with
 * node:crypto; the private key leaves it once, as the PKCS#8 PEM that node:tls needs, and is never
 * written anywhere.
 *
 * The CSR is encoded with the small DER writer in ./der.ts, which keeps an X.509 library out of the
 * sidecar for one fixed structure.
 */
import { generateKeyPair, type KeyObject, sign } from "node:crypto";
import { promisify } from "node:util";
import {
  bitString,
  contextConstructed,
  integer,
  octetString,
  oid,
  sequence,
  set,
  uriGeneralName,
} from "./der.js";
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

export type KeyResult = { ok: true; key: KeyMaterial } | { ok: false; error: CertifyFailure };

const generateKeyPairAsync = promisify(generateKeyPair);

const OID = {
  /** PKCS#9 extensionRequest: the attribute that carries the extensions asked for. */
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  /** ecdsa-with-SHA256 (RFC 5758 §3.2): its AlgorithmIdentifier has no parameters, not even NULL. */
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
} as const;

/**
 * Generates an ECDSA P-256 key and a CSR for `identity`. The subject is left empty: the SPIFFE ID in
 * the URI SAN is the identity, and an empty subject leaves the CA nothing else to misread.
 */
export async function generateKeyMaterial(identity: string): Promise<KeyResult> {
  try {
    const { privateKey, publicKey } = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
    const publicKeySpki = publicKey.export({ type: "spki", format: "der" });
    return {
      ok: true,
      key: {
        keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeySpki,
        csrDer: certificationRequest(identity, publicKeySpki, privateKey),
      },
    };
  } catch (err) {
    return { ok: false, error: failure("TRELLIS_E_IDENTITY_CLIENT_KEY", (err as Error).message) };
  }
}

/** The DER PKCS#10 request (RFC 2986 §4) for `identity`, signed with `privateKey` as proof of possession. */
export function certificationRequest(
  identity: string,
  publicKeySpki: Uint8Array,
  privateKey: KeyObject,
): Buffer {
  // SubjectAltName ::= GeneralNames ::= SEQUENCE OF GeneralName; ours is the one URI.
  const subjectAltName = sequence(
    oid(OID.subjectAltName),
    // critical is DEFAULT FALSE, so DER leaves it out; the CA copies only the identity anyway.
    octetString(sequence(uriGeneralName(identity))),
  );
  const info = sequence(
    integer(0), // version v1
    sequence(), // subject: the empty RDNSequence
    publicKeySpki, // already a complete SubjectPublicKeyInfo
    // attributes [0] IMPLICIT SET OF Attribute: one extensionRequest whose value is the Extensions.
    contextConstructed(0, sequence(oid(OID.extensionRequest), set(sequence(subjectAltName)))),
  );
  // crypto.sign hashes with SHA-256 itself; 'der' gives the Ecdsa-Sig-Value SEQUENCE X.509 expects.
  const signature = sign("sha256", info, { key: privateKey, dsaEncoding: "der" });
  return Buffer.from(sequence(info, sequence(oid(OID.ecdsaWithSha256)), bitString(signature)));
}
