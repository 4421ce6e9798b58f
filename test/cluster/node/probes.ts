/**
 * Probes, run from the node as a kubelet does: httpGet and tcpSocket connect from the host to the pod's
 * address over the bridge (so an injected pod's iptables see them as a kubelet's), exec runs the
 * command in the pod's network namespace (as root, with this machine's files, not the container's
 * mounts). gRPC probes are not supported and count as passed. {@link startProbe} runs one probe
 * periodically and reports streaks; what a streak means (started, ready, restart) is the container's.
 */
import { execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import type { V1Container, V1Probe } from "@kubernetes/client-node";

export interface ProbeTarget {
  podIp: string;
  netns: string;
  container: V1Container;
}

function portOf(port: number | string, c: V1Container): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${c.name} has no port named ${port}`);
  return named.containerPort;
}

/** Runs one probe; resolves true when it passed. Never rejects. */
export function runProbe(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  return new Promise<boolean>((resolve) => {
    try {
      if (probe.httpGet) {
        const g = probe.httpGet;
        const https = g.scheme === "HTTPS";
        const req = (https ? httpsRequest : httpRequest)(
          {
            host: g.host || target.podIp,
            port: portOf(g.port as number | string, target.container),
            path: g.path ?? "/",
            headers: Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value])),
            timeout: timeoutMs,
            ...(https ? { rejectUnauthorized: false } : {}),
          },
          (res) => {
            res.resume();
            const code = res.statusCode ?? 0;
            resolve(code >= 200 && code < 400);
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve(false));
        req.end();
      } else if (probe.tcpSocket) {
        const s = connect(portOf(probe.tcpSocket.port as number | string, target.container), target.podIp);
        s.setTimeout(timeoutMs, () => s.destroy(new Error("timeout")));
        s.on("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      } else if (probe.exec?.command?.length) {
        execFile(
          "ip",
          ["netns", "exec", target.netns, ...probe.exec.command],
          { timeout: timeoutMs },
          (err) => resolve(!err),
        );
      } else {
        resolve(true);
      }
    } catch {
      resolve(false);
    }
  });
}

/** One probe running periodically until stopped. */
export interface ProbeWorker {
  stop(): void;
}

/** The longest period here: a probe's periodSeconds (default 10) up to 2 s, so tests stay quick. */
export const MAX_PROBE_PERIOD_MS = 2000;

/** How often a probe runs on the stand-in: its periodSeconds, at most {@link MAX_PROBE_PERIOD_MS}. */
export function probePeriodMs(probe: V1Probe): number {
  return Math.min((probe.periodSeconds ?? 10) * 1000, MAX_PROBE_PERIOD_MS);
}

/**
 * Runs `probe` first after initialDelaySeconds, then every {@link probePeriodMs} after the previous
 * run finished, until stopped. Each result goes to `report` with the length of the streak of equal
 * results it ends; nothing is reported after `stop()`.
 */
export function startProbe(
  probe: V1Probe,
  target: ProbeTarget,
  report: (ok: boolean, streak: number) => void,
): ProbeWorker {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let last: boolean | undefined;
  let streak = 0;
  const tick = async () => {
    const ok = await runProbe(probe, target);
    if (stopped) return;
    streak = ok === last ? streak + 1 : 1;
    last = ok;
    report(ok, streak);
    if (!stopped) timer = setTimeout(tick, probePeriodMs(probe)).unref();
  };
  timer = setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
