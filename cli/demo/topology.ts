/**
 * The demo's workloads, as pods: each has a loopback address of its own standing in for a pod IP, so
 * every proxy listens on the standard ports (4140, 4143, 4191) exactly as it would in a cluster.
 */

import { stringify } from "yaml";
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
  /** The share of requests the app answers 500 (0..1), so the dashboard has failures to show. */
  failureRate: number;
  /** Only requests whose path starts with this fail; all of them when unset. */
  failurePath?: string;
}

export interface DemoTopology {
  namespace: string;
  trustDomain: string;
  /** The identity service's address. */
  identityIp: string;
  pods: DemoPod[];
  /** A canary: the apex service's requests split between its stable and canary workloads by weight. */
  canary?: { apex: string; stable: string; canary: string; canaryPercent: number };
  /** A service whose ServiceProfile marks the requests under a path prefix retryable. */
  retryable?: { service: string; prefix: string };
}

export const IDENTITY_PORTS = { grpc: 8080, admin: 9990 } as const;
export const DESTINATION_PORTS = { grpc: 8086, admin: 9996 } as const;
const APP_PORT = 8080;

/**
 * The bookshelf: `traffic` calls `web`, which calls `books` and `authors`; books' requests are split
 * between `books` and the `books-v2` canary, which fails a few per cent of them. `authors` fails a
 * fifth of its `/authors` requests, and its ServiceProfile marks that route retryable, so its callers'
 * proxies retry them (the dashboard shows the retries and the success they buy back). All addresses
 * live in one 127.a.b.0/24 picked at random, so concurrent demos (and tests) on one machine do not collide.
 */
export function bookshelf(base: string = randomLoopbackBase()): DemoTopology {
  const pod = (
    n: number,
    name: string,
    role: DemoPod["role"],
    upstreams: string[],
    failure: Pick<DemoPod, "failureRate" | "failurePath"> = { failureRate: 0 },
  ): DemoPod => ({ name, ip: `${base}.${n}`, appPort: APP_PORT, role, upstreams, ...failure });
  return {
    namespace: "demo",
    trustDomain: "cluster.local",
    identityIp: `${base}.250`,
    pods: [
      pod(10, "authors", "server", [], { failureRate: 0.2, failurePath: RETRYABLE_PREFIX }),
      pod(11, "books", "server", ["authors"]),
      pod(12, "web", "server", ["books", "authors"]),
      pod(13, "books-v2", "server", ["authors"], { failureRate: 0.05 }),
      pod(20, "traffic", "traffic", ["web"]),
    ],
    canary: { apex: "books", stable: "books", canary: "books-v2", canaryPercent: 10 },
    retryable: { service: "authors", prefix: RETRYABLE_PREFIX },
  };
}

/** The authors path that fails now and then, and that authors' ServiceProfile marks retryable. */
const RETRYABLE_PREFIX = "/authors";

/** A random 127.a.b prefix, avoiding 127.0.0 (where other local services usually listen). */
export function randomLoopbackBase(): string {
  const a = 1 + Math.floor(Math.random() * 254);
  const b = 1 + Math.floor(Math.random() * 254);
  return `127.${a}.${b}`;
}

/** The one pod of a demo workload, as a Deployment's would be named. */
export function podNameOf(workload: string): string {
  return `${workload}-0`;
}

/** The Service authority other pods use to reach a pod's app. */
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

/**
 * One file of the destination service's local store. The store holds the demo's Services with their
 * endpoints (`services.yaml`; a canary's stable and canary workloads also get a Service each,
 * `<apex>-stable` and `<canary>`, the split's backends), the canary's TrafficSplit in a file of its own
 * (`<apex>-canary.yaml`) whose weights the user edits, and the retryable route's ServiceProfile
 * (`<service>-profile.yaml`).
 */
export interface StoreFile {
  name: string;
  text: string;
}

/** The file holding the canary's TrafficSplit, the one to edit to move traffic. */
export function canaryFile(topology: DemoTopology): string | undefined {
  return topology.canary && `${topology.canary.apex}-canary.yaml`;
}

export function storeFiles(topology: DemoTopology): StoreFile[] {
  const service = (name: string, p: DemoPod) => ({
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
  const services = topology.pods.filter((p) => p.role === "server").map((p) => service(p.name, p));
  const files: StoreFile[] = [];
  const c = topology.canary;
  const stable = topology.pods.find((p) => p.name === c?.stable);
  const split = canaryFile(topology);
  if (c && stable && split) {
    services.push(service(`${c.apex}-stable`, stable));
    files.push({
      name: split,
      text: `# The requests to ${c.apex}, spread over its backends by weight. Edit the weights and save: the
# destination service reloads this directory, the proxies follow, and so does the dashboard.
${stringify({
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
})}`,
    });
  }
  const r = topology.retryable;
  if (r) {
    const re = r.prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    files.push({
      name: `${r.service}-profile.yaml`,
      text: `# Routes of ${r.service} as its callers' proxies see them. Requests under ${r.prefix} may be retried
# (within the retry budget); the others are only counted per route.
${stringify({
  apiVersion: "trellis.dev/v1alpha1",
  kind: "ServiceProfile",
  metadata: {
    name: `${r.service}.${topology.namespace}.svc.${topology.trustDomain}`,
    namespace: topology.namespace,
  },
  spec: {
    routes: [
      { name: `GET ${r.prefix}`, condition: { method: "GET", pathRegex: `${re}(/.*)?` }, isRetryable: true },
      { name: "GET /books/{id}", condition: { method: "GET", pathRegex: "/books/\\d+" } },
    ],
  },
})}`,
    });
  }
  files.unshift({
    name: "services.yaml",
    text: `# The demo's Services and their endpoints, as the destination service's local store reads them.
${services.map((d) => stringify(d)).join("---\n")}`,
  });
  return files;
}
