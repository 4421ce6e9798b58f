/**
 * Fuzzing the identity service's CSR check (control/identity/csr.ts), what any workload with a valid
 * token reaches: CSRs made as the proxy makes them, for P-256 and other keys and with other SANs,
 * then truncated, bytes replaced, inserted or removed. The check never throws, refuses with one of
 * its own codes, and accepts only a CSR that names exactly the identity, signed by the P-256 key it
 * carries: a byte changed anywhere in what the signature covers is never accepted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { checkCsr } from "../../control/identity/csr.js";
import { makeCsr } from "../support/pki.js";
import { asyncBudget, corpus, hostile } from "./support.js";

const IDENTITY = "spiffe://cluster.local/ns/shop/sa/web";
const CODES = [
  "TRELLIS_E_IDENTITY_CSR_MALFORMED",
  "TRELLIS_E_IDENTITY_CSR_SIGNATURE",
  "TRELLIS_E_IDENTITY_CSR_KEY_TYPE",
  "TRELLIS_E_IDENTITY_CSR_EXTRA_SANS",
  "TRELLIS_E_IDENTITY_CSR_IDENTITY_MISMATCH",
];

/** A DER element's header at `at`: where its content starts and how long it is. */
function tlv(der: Buffer, at: number): { start: number; length: number } | undefined {
  const first = der[at + 1];
  if (first === undefined) return undefined;
  if (first < 0x80) return { start: at + 2, length: first };
  const n = first & 0x7f;
  if (n === 0 || n > 4 || at + 2 + n > der.length) return undefined;
  return { start: at + 2 + n, length: der.readUIntBE(at + 2, n) };
}

/** The bytes the CSR's signature covers: its CertificationRequestInfo, the first element inside. */
function signed(der: Buffer): Buffer | undefined {
  const outer = tlv(der, 0);
  const info = outer && tlv(der, outer.start);
  return outer && info ? der.subarray(outer.start, info.start + info.length) : undefined;
}

test("CSRs made as the proxy makes them, then mutated: never a throw, accepted only when intact", async (t) => {
  const made = await Promise.all([
    makeCsr(IDENTITY),
    makeCsr("spiffe://cluster.local/ns/shop/sa/other"),
    makeCsr(IDENTITY, [
      { type: "url", value: IDENTITY },
      { type: "dns", value: "web.shop" },
    ]),
    makeCsr(IDENTITY, []),
    makeCsr(IDENTITY, undefined, { name: "ECDSA", namedCurve: "P-384" }),
  ]);
  const valid = made.map((m) => Buffer.from(m.csrDer));
  const good = valid[0] as Buffer;
  const goodSigned = signed(good) as Buffer;
  const ok = await checkCsr(good, IDENTITY);
  assert.ok(ok.ok, "the proxy's CSR is accepted");

  await fc.assert(
    fc.asyncProperty(hostile(fc.constantFrom(...valid), 512), async (der) => {
      const result = await checkCsr(der, IDENTITY);
      if (!result.ok) {
        assert.ok(CODES.includes(result.code), result.code);
        assert.ok(result.reason.length > 0);
        return;
      }
      // Accepted: what the signature covers is the good CSR's, byte for byte (only an encoding
      // detail outside it, such as the signature's own bytes, may differ).
      assert.deepEqual(signed(der), goodSigned, "a CSR accepted with a changed request");
    }),
    asyncBudget(t, 150),
  );
});

test("csr corpus: every saved input is refused with one of the check's codes", async () => {
  for (const { name, bytes } of corpus("csr")) {
    const result = await checkCsr(bytes, IDENTITY);
    assert.equal(result.ok, false, name);
    if (!result.ok) assert.ok(CODES.includes(result.code), `${name}: ${result.code}`);
  }
});
