/**
 * The resources viz commands name (`deploy/web`, `ns`, `svc/books`, `trafficsplit/books-canary`) and
 * the metric labels that identify them, as the proxy and the scrape config write them.
 */

export type Kind =
  | "deployment"
  | "statefulset"
  | "daemonset"
  | "pod"
  | "namespace"
  | "service"
  | "trafficsplit";

const ALIASES: Record<string, Kind> = {
  deploy: "deployment",
  deployment: "deployment",
  deployments: "deployment",
  sts: "statefulset",
  statefulset: "statefulset",
  statefulsets: "statefulset",
  ds: "daemonset",
  daemonset: "daemonset",
  daemonsets: "daemonset",
  po: "pod",
  pod: "pod",
  pods: "pod",
  ns: "namespace",
  namespace: "namespace",
  namespaces: "namespace",
  svc: "service",
  service: "service",
  services: "service",
  ts: "trafficsplit",
  trafficsplit: "trafficsplit",
  trafficsplits: "trafficsplit",
};

/** The short names `--help` and errors list. */
export const KIND_NAMES = "deploy, sts, ds, pod, svc, ns, trafficsplit";

export interface Resource {
  kind: Kind;
  name?: string;
}

/** `kind[/name]` → a resource, or the one-line reason it is not one. */
export function parseResource(text: string): Resource | { error: string } {
  const [kindText = "", name, extra] = text.split("/");
  const kind = ALIASES[kindText.toLowerCase()];
  if (!kind) return { error: `unknown resource kind "${kindText}" (expected one of ${KIND_NAMES})` };
  if (extra !== undefined || name === "") return { error: `"${text}" is not KIND or KIND/NAME` };
  return name === undefined ? { kind } : { kind, name };
}

/** The label naming a workload of this kind on its own proxy's series (undefined for svc and trafficsplit). */
export function workloadLabel(kind: Kind): string | undefined {
  return kind === "service" || kind === "trafficsplit" ? undefined : kind;
}

/** The label naming a destination of this kind on a client's outbound series. */
export function dstLabel(kind: Kind): string {
  return kind === "trafficsplit" ? "dst_service" : `dst_${kind}`;
}

/** The short kind as `kind/name` is written back to the user. */
export function shortKind(kind: Kind): string {
  const short: Record<Kind, string> = {
    deployment: "deploy",
    statefulset: "sts",
    daemonset: "ds",
    pod: "pod",
    namespace: "ns",
    service: "svc",
    trafficsplit: "trafficsplit",
  };
  return short[kind];
}
