// The balancer: power of two choices over peak-EWMA latency, failure accrual with probing backoff.
import assert from "node:assert/strict";
import { test } from "node:test";
import { P2cBalancer } from "../../../proxy/balance/index.js";

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A seeded generator, so every run draws the same pairs. */
function seeded(seed = 42) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

test("the faster endpoint gets most requests once latencies are known", () => {
  const c = clock();
  const lb = new P2cBalancer(["fast", "slow"], { now: c.now, random: seeded() });
  const counts = { fast: 0, slow: 0 };
  for (let i = 0; i < 1000; i++) {
    const p = lb.pick();
    assert.ok(p);
    counts[p.endpoint as "fast" | "slow"]++;
    p.release({ ok: true, rttMs: p.endpoint === "fast" ? 5 : 50 });
    c.advance(10);
  }
  assert.ok(counts.fast > 900, `fast got ${counts.fast} of 1000`);
  assert.ok(counts.slow > 0, "the slow endpoint is still tried now and then");
});

test("requests in flight count: a busy endpoint is avoided at equal latency", () => {
  const c = clock();
  const lb = new P2cBalancer(["a", "b"], { now: c.now, random: seeded() });
  for (let i = 0; i < 20; i++) lb.pick()?.release({ ok: true, rttMs: 30 });
  const held = lb.pick();
  assert.ok(held);
  assert.notEqual(
    lb.pick()?.endpoint,
    held.endpoint,
    "the endpoint with a request in flight costs twice as much",
  );
});

test("a new endpoint gets traffic at once, and loses it at its first slow answer", () => {
  const c = clock();
  const lb = new P2cBalancer(["old"], { now: c.now, random: seeded() });
  for (let i = 0; i < 10; i++) lb.pick()?.release({ ok: true, rttMs: 5 });
  lb.update(["old", "new"]);
  const first = lb.pick();
  assert.equal(first?.endpoint, "new");
  first?.release({ ok: true, rttMs: 500 });
  assert.equal(lb.pick()?.endpoint, "old");
});

test("consecutive failures eject an endpoint; a probe after the backoff brings it back", () => {
  const c = clock();
  const lb = new P2cBalancer(["good", "bad"], {
    now: c.now,
    random: seeded(),
    maxFailures: 3,
    backoffBaseMs: 1000,
  });
  let badFailures = 0;
  for (let i = 0; i < 200; i++) {
    const p = lb.pick();
    assert.ok(p);
    if (p.endpoint === "bad") badFailures++;
    p.release({ ok: p.endpoint === "good", rttMs: 1 });
    c.advance(1);
  }
  assert.equal(badFailures, 3, "three failures in a row, then no more traffic to it");
  assert.deepEqual(lb.ejected(), ["bad"]);

  // The first ejection lasts less than three times the base.
  c.advance(3000);
  const seen = new Set<string>();
  for (let i = 0; i < 50 && !seen.has("bad"); i++) {
    const p = lb.pick();
    assert.ok(p);
    seen.add(p.endpoint);
    if (p.endpoint === "bad") p.release({ ok: true, rttMs: 1 });
    else p.release({ ok: true, rttMs: 1 });
  }
  assert.ok(seen.has("bad"), "probed after the backoff");
  assert.deepEqual(lb.ejected(), [], "a successful probe brings it back");
});

/** How long the endpoint stays ejected from now, ms, stepping the clock 1 ms at a time (at most `limit`). */
function ejectionLasts(lb: P2cBalancer<string>, c: ReturnType<typeof clock>, limit: number): number {
  let waited = 0;
  while (lb.ejected().length > 0 && waited <= limit) {
    c.advance(1);
    waited++;
  }
  return waited;
}

test("an ejection lasts between the backoff's base and cap, and longer after a failed probe", () => {
  const c = clock();
  const base = 100;
  const cap = 1000;
  const lb = new P2cBalancer(["only"], {
    now: c.now,
    random: () => 0.5,
    maxFailures: 1,
    backoffBaseMs: base,
    backoffMaxMs: cap,
  });
  lb.pick()?.release({ ok: false });
  const first = ejectionLasts(lb, c, cap);
  assert.ok(first >= base && first <= cap, `the first ejection lasts ${first} ms`);
  let previous = first;
  for (let probes = 0; previous < cap; probes++) {
    assert.ok(probes < 10, "failed probes reach the cap");
    const probe = lb.pick();
    assert.equal(probe?.endpoint, "only");
    probe?.release({ ok: false });
    const lasts = ejectionLasts(lb, c, cap);
    assert.ok(lasts > previous, `a failed probe ejects for longer: ${lasts} ms after ${previous} ms`);
    assert.ok(lasts <= cap, `${lasts} ms is within the cap`);
    previous = lasts;
  }
  lb.pick()?.release({ ok: true });
  lb.pick()?.release({ ok: false });
  assert.equal(ejectionLasts(lb, c, cap), first, "a successful probe starts the backoff over");
});

test("with jitter every ejection stays within [base, cap]", () => {
  const c = clock();
  const lb = new P2cBalancer(["only"], {
    now: c.now,
    random: seeded(7),
    maxFailures: 1,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
  });
  for (let i = 0; i < 30; i++) {
    lb.pick()?.release({ ok: false });
    const lasts = ejectionLasts(lb, c, 1000);
    assert.ok(lasts >= 100 && lasts <= 1000, `ejection ${i} lasts ${lasts} ms`);
  }
});

test("with everything ejected one endpoint is still tried", () => {
  const c = clock();
  const lb = new P2cBalancer(["only"], {
    now: c.now,
    maxFailures: 1,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
  });
  lb.pick()?.release({ ok: false });
  assert.deepEqual(lb.ejected(), ["only"]);
  const p = lb.pick();
  assert.equal(p?.endpoint, "only", "no endpoint at all would be worse than a doubtful one");
  p?.release({ ok: false });
  assert.deepEqual(lb.ejected(), ["only"], "its failure ejects it again");
});

test("update keeps what was learned about endpoints that stay, and an empty set picks nothing", () => {
  const c = clock();
  const lb = new P2cBalancer(["a", "b"], { now: c.now, random: seeded(), maxFailures: 1 });
  for (let i = 0; i < 20; i++) {
    const p = lb.pick();
    p?.release({ ok: p.endpoint === "a" });
  }
  assert.deepEqual(lb.ejected(), ["b"]);
  lb.update(["b", "c"]);
  assert.deepEqual(lb.ejected(), ["b"], "b's ejection survives the update");
  assert.equal(lb.size, 2);
  lb.update([]);
  assert.equal(lb.pick(), undefined);
});

test("endpoints a request already failed on are not picked for it again, even while they look fastest", () => {
  const b = new P2cBalancer(["a", "b", "c"], { random: seeded(7) });
  // a fails fast, which makes it look cheapest to peak EWMA.
  for (let i = 0; i < 3; i++) b.pick(new Set(["b", "c"]))?.release({ ok: false, rttMs: 0.01 });
  for (let i = 0; i < 200; i++) {
    const picked = b.pick(new Set(["a"]));
    assert.ok(picked && picked.endpoint !== "a");
    picked.release({ ok: true, rttMs: 5 });
  }
  assert.equal(b.pick(new Set(["b", "c"]))?.endpoint, "a");
  assert.equal(b.pick(new Set(["a", "b", "c"])), undefined, "nothing is left but what it failed on");
});
