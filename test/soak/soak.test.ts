// The soak run's CI version (3 minutes, SOAK_MINUTES overrides): steady traffic through a proxy pair
// with endpoint churn and a certificate renewal a minute fails no request, and after warm-up neither
// memory nor file descriptors grow beyond wide bounds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { row, soak, summary, tableHeader } from "./soak.js";

const minutes = Number(process.env.SOAK_MINUTES ?? 3);
// The run itself plus the mesh's start and the requests' drain (npm test runs this file on its own, with this bound).

test(`a ${minutes}-minute soak with endpoint churn and renewals: no failure, no RSS or fd growth`, {
  timeout: (minutes * 60 + 240) * 1000,
}, async (t) => {
  const result = await soak(t, { minutes });
  t.diagnostic(tableHeader);
  for (const s of result.samples) t.diagnostic(row(s));
  t.diagnostic(summary(result, minutes));
  assert.equal(result.failed, 0, `${result.failed} requests failed: ${result.failures.join("; ")}`);
  assert.ok(result.sent >= minutes * 60 * 10, `only ${result.sent} requests were sent`);
  assert.ok(result.endpointChanges >= minutes * 4, `only ${result.endpointChanges} endpoint changes`);
  const renewals = result.samples.map((s) => s.renewals);
  assert.ok(
    (renewals.at(-1) ?? 0) - (renewals[0] ?? 0) >= 3 * Math.max(1, minutes - 2),
    `the proxies renewed ${renewals.join(", ")} certificates: about one each a minute was expected`,
  );
  assert.ok(result.steady.length >= 2, "too few samples after warm-up");
  for (const [name, growth] of Object.entries(result.rssGrowth))
    assert.ok(growth < 0.25, `${name}'s RSS grew ${(growth * 100).toFixed(1)}% after warm-up`);
  for (const [name, growth] of Object.entries(result.fdGrowth))
    assert.ok(growth <= 8, `${name} holds ${growth} more file descriptors than after warm-up`);
});
