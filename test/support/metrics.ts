/** Prometheus text, as the proxies and the identity service expose it, read back in tests. */
import assert from "node:assert/strict";

export async function scrape(admin: string): Promise<string> {
  const res = await fetch(`http://${admin}/metrics`);
  assert.equal(res.status, 200, `GET http://${admin}/metrics`);
  return res.text();
}

/** Sums the samples of a metric whose labels include every given label. */
export function sum(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}
