/**
 * What a certificate signing request must be for the mesh CA to sign it: DER PKCS#10, an ECDSA P-256
 * key, a signature made with that key (proof of possession), and exactly one SAN, the identity URI.
 * Nothing else in the CSR (subject, other requested extensions) is ever copied into a certificate.
 */
import { createPublicKey } from "node:crypto";
import * as x509 from "../../lib/x509.js";
import { type Refusal, refuse } from "./errors.js";

/** CSRs are a few hundred bytes; anything this large is not one. */
export const MAX_CSR_BYTES = 16 * 1024;
const SAN_OID = "2.5.29.17";

export type CsrCheck =
  | { ok: true; publicKey: x509.PublicKey }
  | Refusal<
      | "TRELLIS_E_IDENTITY_CSR_MALFORMED"
      | "TRELLIS_E_IDENTITY_CSR_SIGNATURE"
      | "TRELLIS_E_IDENTITY_CSR_KEY_TYPE"
      | "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS"
      | "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH"
    >;

/** Parses a DER CSR; undefined when it is not one. */
export function parseCsr(der: Uint8Array): x509.Pkcs10CertificateRequest | undefined {
  // A DER SEQUENCE starts with 0x30; refusing anything else keeps PEM and base64 out (the proto says DER).
  if (der.length === 0 || der.length > MAX_CSR_BYTES || der[0] !== 0x30) return undefined;
  try {
    return new x509.Pkcs10CertificateRequest(Buffer.from(der));
  } catch {
    return undefined;
  }
}

/** Checks the CSR against the identity it must ask for; returns its public key when it passes. */
export async function checkCsr(der: Uint8Array, identity: string): Promise<CsrCheck> {
  const csr = parseCsr(der);
  if (!csr)
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_MALFORMED",
      "certificate_signing_request is not a DER PKCS#10 request",
    );

  let keyType: string;
  try {
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
    const curve = key.asymmetricKeyDetails?.namedCurve;
    keyType = key.asymmetricKeyType === "ec" ? `ec ${curve}` : String(key.asymmetricKeyType);
  } catch (err) {
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_MALFORMED",
      `the CSR's public key does not parse: ${(err as Error).message}`,
    );
  }
  if (keyType !== "ec prime256v1")
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_KEY_TYPE",
      `the CSR's key is ${keyType}; generate an ECDSA P-256 key`,
    );

  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified)
    return refuse("TRELLIS_E_IDENTITY_CSR_SIGNATURE", "the CSR is not signed by the key it carries");

  let names: { type: string; value: string }[];
  try {
    names = csr.extensions
      .filter((e) => e.type === SAN_OID)
      .flatMap((e) => new x509.SubjectAlternativeNameExtension(e.rawData).names.items)
      .map((n) => ({ type: n.type, value: n.value }));
  } catch (err) {
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_MALFORMED",
      `the CSR's SAN extension does not parse: ${(err as Error).message}`,
    );
  }
  const uris = names.filter((n) => n.type === "url");
  const others = names.filter((n) => n.type !== "url");
  if (others.length > 0 || uris.length > 1) {
    const found = names
      .map((n) => `${n.type === "url" ? "URI" : n.type.toUpperCase()}:${n.value}`)
      .join(", ");
    return refuse("TRELLIS_E_IDENTITY_CSR_EXTRA_SANS", `the CSR asks for ${found}; ask for ${identity} only`);
  }
  const [uri] = uris;
  if (uri === undefined)
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH",
      `the CSR names no URI SAN; it must name ${identity}`,
    );
  if (uri.value !== identity)
    return refuse(
      "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH",
      `the CSR names ${uri.value}, the token proves ${identity}`,
    );
  return { ok: true, publicKey: csr.publicKey };
}
