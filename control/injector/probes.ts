/**
 * How the app's kubelet probes keep working under strict mTLS. The kubelet is not in the mesh: it
 * probes in plaintext, and the proxy refuses plaintext on the ports it intercepts. Trellis does what
 * Linkerd does: every port an app container's HTTP, TCP or gRPC probe targets is added to the ports
 * `trellis-init` leaves unintercepted, so the kubelet reaches the app directly. Meshed clients still
 * reach that port over mTLS (their proxy names the app port inside the protocol), but an unmeshed
 * client can reach it in plaintext too, so the report warns when a probe targets the container's
 * first port, by convention the one it serves on (a port of its own for health is not warned about). The probes themselves are never rewritten: uninject has nothing to restore, and no probe
 * depends on the proxy being up.
 */
import { list, type Obj } from "./workloads.js";

const PROBES = ["livenessProbe", "readinessProbe", "startupProbe"] as const;

/** One port a probe targets. */
export interface ProbePort {
  container: string;
  probe: (typeof PROBES)[number];
  port: number;
  /** True when it is the container's first declared port, by convention the one the app serves on. */
  servesApp: boolean;
}

/** The ports the app containers' probes target, named ports resolved through the container's ports. */
export function probePorts(spec: Obj): ProbePort[] {
  const out: ProbePort[] = [];
  for (const c of list(spec, "containers")) {
    const ports = list(c, "ports");
    const byName = new Map<string, number>();
    const first = ports.find((p) => (p.protocol ?? "TCP") === "TCP")?.containerPort;
    for (const p of ports) {
      if (typeof p.containerPort !== "number") continue;
      if (typeof p.name === "string") byName.set(p.name, p.containerPort);
    }
    for (const probe of PROBES) {
      const spec = c[probe];
      if (typeof spec !== "object" || spec === null) continue;
      const p = spec as Obj;
      const action = (p.httpGet ?? p.tcpSocket ?? p.grpc) as Obj | undefined;
      if (!action) continue;
      const raw = action.port;
      const port =
        typeof raw === "number" ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : byName.get(String(raw));
      if (port === undefined || !Number.isInteger(port)) continue;
      out.push({ container: String(c.name), probe, port, servesApp: port === first });
    }
  }
  return out;
}
