// The balancer: power of two choices over peak-EWMA latency, failure accrual with probing backoff.
import assert from "node:assert/strict";
import { test } from "node:test";
import { P2cBalancer } from "../../proxy/balance/index.js";

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

  c.advance(1000);
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

test("a failed probe doubles the backoff; with everything ejected one endpoint is still tried", () => {
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
  c.advance(150);
  assert.deepEqual(lb.ejected(), ["only"], "the second ejection lasts 200 ms");
  c.advance(100);
  assert.deepEqual(lb.ejected(), []);
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
