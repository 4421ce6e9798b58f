// The proxy's hand-written DER: the writer's encodings against known vectors, and the reader refusing
// every malformed input with a DerError (never another exception, never a hang), and reading
// BasicConstraints cA from certificates openssl wrote.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { before, test } from "node:test";
import {
  basicConstraintsCa,
  children,
  DerError,
  encodeLength,
  integer,
  oid,
  readNode,
  readOid,
  readWhole,
  sequence,
  TAG,
  uriGeneralName,
} from "../../../lib/identity/der.js";
import { claimsCa } from "../../../lib/identity/verify.js";
import { opensslCert } from "../../support/pki.js";
import { hasTool } from "../../support/tools.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

test("lengths use the short form below 128 and the shortest long form above", () => {
  assert.equal(hex(encodeLength(0)), "00");
  assert.equal(hex(encodeLength(127)), "7f");
  assert.equal(hex(encodeLength(128)), "8180");
  assert.equal(hex(encodeLength(255)), "81ff");
  assert.equal(hex(encodeLength(256)), "820100");
  assert.equal(hex(encodeLength(65_536)), "83010000");
  assert.throws(() => encodeLength(-1), RangeError);
});

test("OIDs, INTEGERs and the URI GeneralName encode as X.690 says", () => {
  assert.equal(hex(oid("1.2.840.113549.1.9.14")), "06092a864886f70d01090e");
  assert.equal(hex(oid("2.5.29.17")), "0603551d11");
  assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.throws(() => oid("1"), RangeError);
  assert.throws(() => oid("1.40"), RangeError);
  assert.equal(hex(integer(0)), "020100");
  assert.equal(hex(integer(127)), "02017f");
  assert.equal(hex(integer(128)), "02020080");
  assert.equal(hex(uriGeneralName("a:b")), "8603613a62");
  assert.throws(() => uriGeneralName("spiffe://é"), RangeError);
});

test("the reader walks what the writer wrote, long-form lengths included", () => {
  const long = "spiffe://x/" + "a".repeat(300);
  const der = sequence(oid("2.5.29.17"), sequence(uriGeneralName(long)));
  const [id, names] = children(readWhole(der, TAG.SEQUENCE, "test"));
  assert.equal(readOid(id!), "2.5.29.17");
  const [name] = children(names!);
  assert.equal(name?.tag, 0x86);
  assert.equal(Buffer.from(name!.value).toString("latin1"), long);
});

test("truncated input, lengths past the end and non-DER lengths are refused with a DerError", () => {
  const der = sequence(oid("2.5.29.17"), sequence(uriGeneralName("spiffe://x/" + "a".repeat(200))));
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty input", new Uint8Array(0), /truncated/],
    ["a lone tag", Uint8Array.of(0x30), /truncated/],
    ["long-form length cut short", Uint8Array.of(0x30, 0x82, 0x01), /truncated DER: length octets/],
    ["a length past the end", Uint8Array.of(0x30, 0x05, 0x02, 0x01), /runs past the end/],
    ["an indefinite length", Uint8Array.of(0x30, 0x80, 0x00, 0x00), /indefinite/],
    ["a nine-octet length", Uint8Array.of(0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1), /too long/],
    ["a multi-byte tag", Uint8Array.of(0x1f, 0x81, 0x00), /multi-byte tag/],
    ["trailing bytes", Buffer.concat([der, Uint8Array.of(0)]), /trailing/],
    ["every prefix", der.subarray(0, der.length - 1), /runs past the end/],
  ];
  for (const [what, input, message] of cases) {
    assert.throws(
      () => {
        const node = readWhole(input, TAG.SEQUENCE, "test");
        for (const child of children(node)) if (child.tag & 0x20) children(child);
      },
      (err: unknown) => err instanceof DerError && message.test(err.message),
      what,
    );
  }
  // The child would fit in the input but not in its parent: the parent's end is the bound.
  const childPastParent = Uint8Array.of(0x30, 0x03, 0x04, 0x05, 0x00, 0, 0, 0, 0);
  assert.throws(() => children(readNode(childPastParent)), /DER length 5 at offset 2 runs past the end/);
  assert.throws(() => readOid(readNode(Uint8Array.of(0x06, 0x01, 0x86))), /truncated OBJECT IDENTIFIER/);
});

// Shared between the tests below; made once because openssl takes a few tens of milliseconds each.
const certs: Record<string, Uint8Array> = {};
before(async () => {
  if (!hasTool("openssl")) return;
  certs.caWithoutKeyCertSign = (
    await opensslCert("basicConstraints=critical,CA:TRUE", "keyUsage=digitalSignature")
  ).raw;
  certs.leaf = (await opensslCert("basicConstraints=critical,CA:FALSE", "keyUsage=digitalSignature")).raw;
  certs.noBasicConstraints = (await opensslCert("keyUsage=digitalSignature")).raw;
  certs.v1 = (await opensslCert()).raw;
});

function needOpenssl(t: { skip(why: string): void }): boolean {
  if (hasTool("openssl")) return true;
  if (process.env.CI === "true") throw new Error("cannot run in CI: needs openssl on PATH");
  t.skip("needs openssl on PATH (.ci/run installs it)");
  return false;
}

test("claimsCa: CA:TRUE without keyCertSign is a CA, though node's X509Certificate.ca says no", (t) => {
  if (!needOpenssl(t)) return;
  const cert = new X509Certificate(certs.caWithoutKeyCertSign!);
  assert.equal(cert.ca, false, "node's view, which is why verify.ts reads the extension itself");
  assert.equal(claimsCa(cert), true);
});

test("claimsCa: a normal leaf, a certificate without BasicConstraints and a v1 certificate are not CAs", (t) => {
  if (!needOpenssl(t)) return;
  assert.equal(basicConstraintsCa(certs.leaf!), false);
  assert.equal(basicConstraintsCa(certs.noBasicConstraints!), false);
  assert.equal(basicConstraintsCa(certs.v1!), false);
});

test("a truncated certificate is a DerError at every length, never a crash", (t) => {
  if (!needOpenssl(t)) return;
  const der = certs.caWithoutKeyCertSign!;
  for (let n = 0; n < der.length; n++) {
    assert.throws(() => basicConstraintsCa(der.subarray(0, n)), DerError, `prefix of ${n} bytes`);
  }
});

// A fixed-seed generator (mulberry32), so a failing input is the same on every run.
function bytesFrom(seed: number): (n: number) => Buffer {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % 256;
  };
  return (n) => Buffer.from(Array.from({ length: n }, next));
}

test("garbage and corrupted certificates give a boolean or a DerError, and always return", (t) => {
  if (!needOpenssl(t)) return;
  const randomBytes = bytesFrom(0x7e11);
  const outcome = (input: Uint8Array): void => {
    try {
      assert.equal(typeof basicConstraintsCa(input), "boolean");
    } catch (err) {
      if (!(err instanceof DerError)) throw err;
    }
  };
  for (let i = 0; i < 2000; i++) outcome(randomBytes(i % 300));
  // Random bytes rarely get past the first header; flipped bytes in a real certificate do.
  const der = certs.caWithoutKeyCertSign!;
  for (let i = 0; i < 5000; i++) {
    const copy = Buffer.from(der);
    for (let k = 0; k < 1 + (i % 4); k++) {
      const [hi, lo, value] = randomBytes(3);
      copy[(hi! * 256 + lo!) % copy.length] = value!;
    }
    outcome(copy);
  }
});
