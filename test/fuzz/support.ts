/**
 * What every fuzz target shares: the run budget (short in `npm test`, long under `npm run fuzz`), the
 * seed (printed, and replayable with FUZZ_SEED), the corpus of saved inputs each target replays, and
 * the byte-level mutations applied to the valid inputs a target's own arbitraries build.
 *
 * - FUZZ_RUNS: runs per property (default: each property's short count).
 * - FUZZ_TIME_MS: a time budget per property; the runs stop there, counted as a pass.
 * - FUZZ_SEED: the seed to replay (fast-check prints it, with the failing case's path, on failure).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${v}: expected a whole number`);
  return n;
};

const RUNS = envInt("FUZZ_RUNS");
const TIME_MS = envInt("FUZZ_TIME_MS");
const SEED = envInt("FUZZ_SEED") ?? Math.floor(Math.random() * 0x7fffffff);
/** A single case that takes this long is a hang: async properties fail on it. */
export const CASE_TIMEOUT_MS = 10_000;

/**
 * fast-check's parameters for one property: `runs` in the short (CI) run, FUZZ_RUNS and FUZZ_TIME_MS
 * in a long one. The seed goes to the test's diagnostics, so a failure in CI can be replayed.
 */
export function budget<T>(t: TestContext, runs: number): fc.Parameters<T> {
  t.diagnostic(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
  const plugins = TIME_MS === undefined ? [] : [fc.interruptAfterTimeLimit(TIME_MS)];
  return {
    seed: SEED,
    numRuns: RUNS ?? runs,
    plugins,
    includeErrorInReport: true,
  };
}

/** As `budget`, with each async case failing past CASE_TIMEOUT_MS (a hang, not a slow moment). */
export function asyncBudget<T>(t: TestContext, runs: number): fc.Parameters<T> {
  return { ...budget<T>(t, runs), timeout: CASE_TIMEOUT_MS };
}

const CORPUS = fileURLToPath(new URL("corpus/", import.meta.url));

/** The saved inputs of a target (test/fuzz/corpus/<target>/), by file name, in name order. */
export function corpus(target: string): { name: string; bytes: Buffer }[] {
  const dir = join(CORPUS, target);
  return readdirSync(dir)
    .filter((name) => !name.startsWith(".") && name !== "README.md")
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

/** Cuts `b` into pieces at the given offsets (sorted, clamped, duplicates giving empty pieces). */
export function splitAt(b: Buffer, offsets: number[]): Buffer[] {
  const cuts = offsets.map((o) => Math.min(o, b.length)).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    out.push(b.subarray(at, cut));
    at = cut;
  }
  out.push(b.subarray(at));
  return out;
}

/**
 * Every way of cutting `b` in two, plus one byte at a time: the splits a reader must be immune to. An
 * input past `most` bytes is cut at `most` places spread over it instead.
 */
export function everySplit(b: Buffer, most = 1024): Buffer[][] {
  const out: Buffer[][] = [];
  const step = Math.max(1, Math.ceil(b.length / most));
  for (let i = 0; i <= b.length; i += step) out.push([b.subarray(0, i), b.subarray(i)]);
  if (b.length <= most) out.push([...b].map((byte) => Buffer.from([byte])));
  return out;
}

/** Offsets to cut an input at: an arbitrary of a few positions within `max` bytes. */
export const cuts = (max = 512) => fc.array(fc.nat({ max }), { maxLength: 6 });

type Mutation =
  | { op: "truncate"; at: number }
  | { op: "flip"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; n: number }
  | { op: "duplicate"; at: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      fc.constantFrom(..."\r \n \r\n \0 \t : , ; 0 ff -1 +".split(" ").map((s) => Buffer.from(s, "latin1"))),
    ),
  }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);

function apply(b: Buffer, m: Mutation): Buffer {
  if (b.length === 0) return m.op === "insert" ? Buffer.from(m.bytes) : b;
  const at = m.at % (b.length + 1);
  switch (m.op) {
    case "truncate":
      return b.subarray(0, at);
    case "flip": {
      const out = Buffer.from(b);
      out[at % b.length] = m.byte;
      return out;
    }
    case "insert":
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case "delete":
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    case "duplicate":
      return Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]);
  }
}

/** A valid input from `valid`, with none to a few byte-level mutations applied. */
export function mutated(valid: fc.Arbitrary<Buffer>, maxMutations = 3): fc.Arbitrary<Buffer> {
  return fc
    .tuple(valid, fc.array(mutation, { maxLength: maxMutations }))
    .map(([b, ms]) => ms.reduce(apply, b));
}

/** Inputs for a reader: mostly valid ones mutated, sometimes plain random bytes. */
export function hostile(valid: fc.Arbitrary<Buffer>, maxRandom = 256): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 4, arbitrary: mutated(valid) },
    { weight: 1, arbitrary: valid },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }).map((a) => Buffer.from(a)) },
  );
}
