/**
 * A real Prometheus (Debian's `prometheus` package) for tests: started on loopback with a temporary
 * config and storage directory, scraping the given proxies' admin endpoints every second, stopped by
 * its pid when the test ends.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./ports.js";

export interface PrometheusTarget {
  admin: string;
  labels: Record<string, string>;
}

export const SCRAPE_INTERVAL_S = 1;

/**
 * How far `viz stat` from Prometheus and from a direct scrape may differ on the same steady traffic,
 * over a window of WINDOW_SCRAPES scrape intervals (8 s here, 16 s in the cluster test's 2 s
 * scrapes). Prometheus sees the window through its scrapes and extrapolates `increase` to the
 * window's edges, so a count may be off by about one interval's share of the window (1/8) at each
 * end: 25 % for RPS. Success rates are ratios of the same counts, within 5 points.
 */
export const WINDOW_SCRAPES = 8;
export const RPS_TOLERANCE = 0.25;
export const SUCCESS_TOLERANCE = 0.05;

export async function startPrometheus(t: TestContext, targets: PrometheusTarget[]): Promise<{ url: string }> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-prometheus-"));
  const port = await freePort();
  const config = {
    global: { scrape_interval: `${SCRAPE_INTERVAL_S}s`, evaluation_interval: `${SCRAPE_INTERVAL_S}s` },
    scrape_configs: [
      {
        job_name: "trellis-proxy",
        // The proxy's own labels (namespace, pod, deployment) win, as in a cluster's scrape config.
        honor_labels: true,
        static_configs: targets.map((target) => ({ targets: [target.admin], labels: target.labels })),
      },
    ],
  };
  const file = join(dir, "prometheus.yml");
  await writeFile(file, JSON.stringify(config));
  const child = spawn(
    "prometheus",
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  t.after(async () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  // Ready, then every target scraped at least once: bounded by a deadline.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`prometheus did not scrape every target in 30 s: ${stderr}`);
    const res = await fetch(`${url}/api/v1/targets`).catch(() => undefined);
    if (res?.ok) {
      const body = (await res.json()) as { data: { activeTargets: { health: string }[] } };
      const active = body.data.activeTargets;
      if (active.length === targets.length && active.every((a) => a.health === "up")) return { url };
    }
    await sleep(250);
  }
}
