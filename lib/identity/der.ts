/**
 * Just enough DER (ITU-T X.690) for the proxy's identity: a writer for the PKCS#10 request it sends
 * and a reader for the one certificate field node:crypto does not expose faithfully (BasicConstraints
 * cA). It is written here so that the sidecar loads no X.509 library for one fixed structure and one
 * field; the control plane, which parses and issues certificates in earnest, uses @peculiar/x509.
 *
 * Only definite-length, low-tag-number encodings exist here: DER has no others, and whatever the
 * reader cannot walk it refuses with a DerError naming the offset, never reading past the input.
 */

/** Universal and context-specific tags used by the CSR and the certificate extensions. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  IA5_STRING: 0x16,
  SEQUENCE: 0x30, // constructed bit (0x20) | 0x10
  SET: 0x31, // constructed bit (0x20) | 0x11
} as const;

const CONSTRUCTED = 0x20;
const CONTEXT = 0x80;

// ---------------------------------------------------------------------------------------------------
// Writer: every function returns one complete TLV, so nesting reads like the ASN.1 it encodes.

/** The length octets: short form below 128, otherwise 0x80 | count followed by the big-endian count. */
export function encodeLength(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid DER length ${length}`);
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV: the tag octet, the length, then the contents in order. */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

export const sequence = (...children: readonly Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...children);

/** A SET OF. DER sorts the elements by their encodings; callers here only ever pass one. */
export const set = (...children: readonly Uint8Array[]): Uint8Array =>
  tlv(TAG.SET, ...[...children].sort(Buffer.compare));

/** A non-negative INTEGER, minimal two's complement: a leading 0x00 only when the top bit is set. */
export function integer(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`unsupported INTEGER ${value}`);
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  if (bytes.length === 0 || bytes[0]! >= 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, Uint8Array.from(bytes));
}

/** An OBJECT IDENTIFIER from its dotted form: 40 × first + second, then each arc base 128, high bit = more. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const [first, second, ...rest] = arcs;
  if (
    first === undefined ||
    second === undefined ||
    !arcs.every((a) => Number.isSafeInteger(a) && a >= 0) ||
    first > 2 ||
    (first < 2 && second >= 40)
  )
    throw new RangeError(`invalid OID "${dotted}"`);
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups: number[] = [];
    for (let n = arc; ; n = Math.floor(n / 128)) {
      groups.unshift(n % 128);
      if (n < 128) break;
    }
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** A BIT STRING of whole bytes: the first content octet counts the unused bits of the last, here 0. */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, bytes);

/** A constructed context-specific tag [n], e.g. the CSR's `attributes [0] IMPLICIT SET OF`. */
export const contextConstructed = (n: number, ...children: readonly Uint8Array[]): Uint8Array =>
  tlv(CONTEXT | CONSTRUCTED | n, ...children);

/** IA5String is ASCII; anything else would be silently mangled, so it is refused. */
function ascii(text: string): Uint8Array {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError(`not an IA5String: ${JSON.stringify(text)}`);
  return Buffer.from(text, "latin1");
}

export const ia5String = (text: string): Uint8Array => tlv(TAG.IA5_STRING, ascii(text));

/** GeneralName uniformResourceIdentifier: `[6] IMPLICIT IA5String`, so primitive with tag 0x86. */
export const uriGeneralName = (uri: string): Uint8Array => tlv(CONTEXT | 6, ascii(uri));

// ---------------------------------------------------------------------------------------------------
// Reader: a bounds-checked walk over tag/length headers. Values are views into the input, not copies.

/** Input that is not the DER the reader expected: truncated, overrunning, or another structure. */
export class DerError extends Error {
  override name = "DerError";
}

/** One TLV found in the input. Offsets are into `input`, the whole buffer being walked. */
export interface DerNode {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly start: number;
  /** Offset just past the contents: where the next sibling starts. */
  readonly end: number;
  /** The contents, a view into the input. */
  readonly value: Uint8Array;
  readonly input: Uint8Array;
}

/**
 * Reads the TLV at `offset`, which must end at or before `limit` (the end of the enclosing value).
 * Throws a DerError on truncation, lengths past `limit`, indefinite lengths and multi-byte tags.
 */
export function readNode(input: Uint8Array, offset = 0, limit = input.length): DerNode {
  const bound = Math.min(limit, input.length);
  if (offset + 2 > bound) throw new DerError(`truncated DER: no tag and length at offset ${offset}`);
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported multi-byte tag at offset ${offset}`);
  const first = input[offset + 1]!;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at offset ${offset} is not DER`);
    // Four octets already describe 4 GiB; more is garbage, not a certificate.
    if (count > 4) throw new DerError(`length of ${count} octets at offset ${offset} is too long`);
    if (offset + 2 + count > bound) throw new DerError(`truncated DER: length octets at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[offset + 2 + i]!;
    header += count;
  }
  const contentStart = offset + header;
  if (length > bound - contentStart)
    throw new DerError(
      `DER length ${length} at offset ${offset} runs past the end (${bound - contentStart} bytes left)`,
    );
  const end = contentStart + length;
  return { tag, start: offset, end, value: input.subarray(contentStart, end), input };
}

/** Reads the single TLV that must fill `input` exactly, with the expected tag. */
export function readWhole(input: Uint8Array, tag: number, what: string): DerNode {
  const node = expect(readNode(input), tag, what);
  if (node.end !== input.length)
    throw new DerError(`${input.length - node.end} trailing bytes after the ${what}`);
  return node;
}

/** The children of a constructed node, in order. Each step advances at least two bytes, so it ends. */
export function children(node: DerNode): DerNode[] {
  if (!(node.tag & CONSTRUCTED))
    throw new DerError(`tag 0x${hex(node.tag)} at offset ${node.start} is not constructed`);
  const out: DerNode[] = [];
  for (let offset = node.end - node.value.length; offset < node.end; ) {
    const child = readNode(node.input, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** Checks a node's tag, naming what was expected when it differs. */
export function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`missing ${what}`);
  if (node.tag !== tag)
    throw new DerError(
      `expected ${what} (tag 0x${hex(tag)}) at offset ${node.start}, found 0x${hex(node.tag)}`,
    );
  return node;
}

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function readOid(node: DerNode): string {
  expect(node, TAG.OID, "OBJECT IDENTIFIER");
  const bytes = node.value;
  if (bytes.length === 0) throw new DerError(`empty OBJECT IDENTIFIER at offset ${node.start}`);
  if (bytes[bytes.length - 1]! & 0x80)
    throw new DerError(`truncated OBJECT IDENTIFIER at offset ${node.start}`);
  const arcs: number[] = [];
  let arc = 0;
  for (const byte of bytes) {
    arc = arc * 128 + (byte & 0x7f);
    if (!Number.isSafeInteger(arc))
      throw new DerError(`OBJECT IDENTIFIER arc too large at offset ${node.start}`);
    if (byte & 0x80) continue;
    if (arcs.length === 0) arcs.push(arc < 80 ? Math.floor(arc / 40) : 2, arc < 80 ? arc % 40 : arc - 80);
    else arcs.push(arc);
    arc = 0;
  }
  return arcs.join(".");
}

/** A BOOLEAN; any non-zero octet is TRUE (DER says 0xFF, BER anything else non-zero). */
export function readBoolean(node: DerNode): boolean {
  expect(node, TAG.BOOLEAN, "BOOLEAN");
  if (node.value.length !== 1)
    throw new DerError(`BOOLEAN of ${node.value.length} octets at offset ${node.start}`);
  return node.value[0] !== 0;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

// ---------------------------------------------------------------------------------------------------
// Certificates (RFC 5280 §4.1): only the path to the extensions.

const EXTENSIONS_TAG = CONTEXT | CONSTRUCTED | 3; // tbsCertificate's `extensions [3] EXPLICIT`
const BASIC_CONSTRAINTS_OID = "2.5.29.19";

/**
 * The extnValue contents of the extension `extnId` in a DER certificate, or undefined when the
 * certificate has no such extension. Throws a DerError when the certificate does not walk.
 */
export function certificateExtension(certDer: Uint8Array, extnId: string): Uint8Array | undefined {
  const [tbs] = children(readWhole(certDer, TAG.SEQUENCE, "Certificate"));
  const fields = children(expect(tbs, TAG.SEQUENCE, "tbsCertificate"));
  // [3] is the last field of a v3 tbsCertificate; v1 and v2 certificates have none.
  const wrapper = fields.find((f) => f.tag === EXTENSIONS_TAG);
  if (!wrapper) return undefined;
  const [list] = children(wrapper);
  for (const extension of children(expect(list, TAG.SEQUENCE, "Extensions"))) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const parts = children(expect(extension, TAG.SEQUENCE, "Extension"));
    if (parts.length < 2 || parts.length > 3)
      throw new DerError(`Extension at offset ${extension.start} has ${parts.length} fields`);
    if (readOid(expect(parts[0], TAG.OID, "extnID")) !== extnId) continue;
    return expect(parts[parts.length - 1], TAG.OCTET_STRING, "extnValue").value;
  }
  return undefined;
}

/**
 * Whether a DER certificate's BasicConstraints say cA TRUE. `BasicConstraints ::= SEQUENCE { cA BOOLEAN
 * DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }`: an absent extension or an absent cA is FALSE.
 */
export function basicConstraintsCa(certDer: Uint8Array): boolean {
  const value = certificateExtension(certDer, BASIC_CONSTRAINTS_OID);
  if (value === undefined) return false;
  const [first] = children(readWhole(value, TAG.SEQUENCE, "BasicConstraints"));
  return first?.tag === TAG.BOOLEAN ? readBoolean(first) : false;
}
