/**
 * The demo's workloads, as pods: each has a loopback address of its own standing in for a pod IP, so
 * every proxy listens on the standard ports (4140, 4143, 4191) exactly as it would in a cluster.
 */
import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { formatSpiffeId } from "../../lib/spiffe.js";

/** One demo workload: an app process behind its own proxy. */
export interface DemoPod {
  /** Workload name; also its ServiceAccount and Service name. */
  name: string;
  /** The pod's address (a loopback address of its own). */
  ip: string;
  /** The app's port, as the container port of a pod. */
  appPort: number;
  /** What the app does: serve (and call upstreams), or generate traffic. */
  role: "server" | "traffic";
  /** Services this app calls, by name. */
  upstreams: string[];
}

export interface DemoTopology {
  namespace: string;
  trustDomain: string;
  /** The identity service's address. */
  identityIp: string;
  pods: DemoPod[];
  /** A canary: the apex service's requests split between its stable and canary workloads by weight. */
  canary?: { apex: string; stable: string; canary: string; canaryPercent: number };
}

export const IDENTITY_PORTS = { grpc: 8080, admin: 9990 } as const;
export const DESTINATION_PORTS = { grpc: 8086, admin: 9996 } as const;
const APP_PORT = 8080;

/**
 * The bookshelf: `traffic` calls `web`, which calls `books` and `authors`. All addresses live in one
 * 127.a.b.0/24 picked at random, so concurrent demos (and tests) on one machine do not collide.
 */
export function bookshelf(base: string = randomLoopbackBase()): DemoTopology {
  const pod = (n: number, name: string, role: DemoPod["role"], upstreams: string[]): DemoPod => ({
    name,
    ip: `${base}.${n}`,
    appPort: APP_PORT,
    role,
    upstreams,
  });
  return {
    namespace: "demo",
    trustDomain: "cluster.local",
    identityIp: `${base}.250`,
    pods: [
      pod(10, "authors", "server", []),
      pod(11, "books", "server", ["authors"]),
      pod(12, "web", "server", ["books", "authors"]),
      pod(13, "books-v2", "server", ["authors"]),
      pod(20, "traffic", "traffic", ["web"]),
    ],
    canary: { apex: "books", stable: "books", canary: "books-v2", canaryPercent: 10 },
  };
}

/** A random 127.a.b prefix, avoiding 127.0.0 (where other local services usually listen). */
export function randomLoopbackBase(): string {
  const a = 1 + Math.floor(Math.random() * 254);
  const b = 1 + Math.floor(Math.random() * 254);
  return `127.${a}.${b}`;
}

/** The Service authority other pods use to reach a pod's app. */
/** The one pod of a demo workload, as a Deployment's would be named. */
export function podNameOf(workload: string): string {
  return `${workload}-0`;
}

export function authorityOf(topology: DemoTopology, name: string): string {
  return `${name}.${topology.namespace}.svc.${topology.trustDomain}:${APP_PORT}`;
}

export function identityOf(topology: DemoTopology, name: string): string {
  return formatSpiffeId({
    trustDomain: topology.trustDomain,
    namespace: topology.namespace,
    serviceAccount: name,
  });
}

/** The static destination table of a pod's proxy: one entry per upstream service. */
/** The demo's Services with their endpoints, as the destination service's local store reads them. */
/**
 * The demo's Services with their endpoints, and the canary's TrafficSplit, as the destination
 * service's local store reads them. A canary's stable and canary workloads also get a Service each
 * (`<apex>-stable`, `<canary>`), the split's backends.
 */
export function servicesYaml(topology: DemoTopology): string {
  const service = (name: string, p: DemoPod) =>
    JSON.stringify({
      apiVersion: "local.trellis.dev/v1",
      kind: "Service",
      metadata: { name, namespace: topology.namespace },
      spec: {
        ports: [{ name: "http", port: p.appPort, targetPort: p.appPort }],
        endpoints: [
          {
            address: p.ip,
            pod: podNameOf(p.name),
            deployment: p.name,
            serviceAccount: p.name,
            inboundPort: PROXY_PORTS.INBOUND,
          },
        ],
      },
    });
  const docs = topology.pods.filter((p) => p.role === "server").map((p) => service(p.name, p));
  const c = topology.canary;
  const stable = topology.pods.find((p) => p.name === c?.stable);
  if (c && stable) {
    docs.push(service(`${c.apex}-stable`, stable));
    docs.push(
      JSON.stringify({
        apiVersion: "split.smi-spec.io/v1alpha2",
        kind: "TrafficSplit",
        metadata: { name: `${c.apex}-canary`, namespace: topology.namespace },
        spec: {
          service: c.apex,
          backends: [
            { service: `${c.apex}-stable`, weight: 100 - c.canaryPercent },
            { service: c.canary, weight: c.canaryPercent },
          ],
        },
      }),
    );
  }
  return docs.join("\n---\n");
}
