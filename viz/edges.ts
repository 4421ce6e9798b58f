/**
 * `viz edges`: who calls whom and whether it is mTLS. An edge is a client workload's outbound series
 * towards a destination workload, with the server identity its proxy verified; the client identity is
 * the one the destination's inbound series recorded for that client. Edges count since the proxies
 * started (lifetime `request_total`), as Linkerd's count open connections whatever the window.
 */
import { dstLabel, type Kind, workloadLabel } from "./resources.js";
import type { Matchers, Series } from "./series.js";
import type { MetricsSource } from "./source.js";

export interface EdgesData {
  outbound: Series[];
  inbound: Series[];
}

export async function gatherEdges(
  source: MetricsSource,
  kind: Kind,
  namespace: string | undefined,
): Promise<EdgesData> {
  const label = workloadLabel(kind) as string;
  const dst = dstLabel(kind);
  const ns: Matchers = namespace === undefined ? {} : { namespace };
  const [outbound, inbound] = await Promise.all([
    source.current("request_total", { direction: "outbound", ...ns }, [
      "namespace",
      label,
      "dst_namespace",
      dst,
      "dst_service",
      "tls",
      "server_id",
      "no_tls_reason",
    ]),
    source.current("request_total", { direction: "inbound" }, [
      "namespace",
      label,
      "tls",
      "client_id",
      "no_tls_reason",
    ]),
  ]);
  return { outbound, inbound };
}

export interface EdgeRow {
  src: string;
  dst: string;
  srcNamespace: string;
  dstNamespace: string;
  clientId: string | undefined;
  serverId: string | undefined;
  /** True when mTLS; otherwise why not. */
  secured: true | string;
}

const REASONS: Record<string, string> = {
  not_provided_by_service_discovery: "no identity: the destination is not meshed",
  not_provided_by_remote: "no identity: an unmeshed client",
  loopback: "loopback",
  disabled: "identity disabled",
  no_authority_in_http_request: "no authority in the HTTP request",
  not_http: "not HTTP",
};

/** Why a series is not mTLS, in words. */
export function insecureReason(labels: Record<string, string>): string {
  return REASONS[labels.no_tls_reason ?? ""] ?? `no identity (${labels.tls ?? "unknown"})`;
}

/** The SPIFFE ID's namespace and ServiceAccount, which in Trellis name the workload. */
function spiffeParts(id: string): { namespace: string; account: string } | undefined {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return m ? { namespace: m[1] as string, account: m[2] as string } : undefined;
}

export function edgeRows(data: EdgesData, kind: Kind): EdgeRow[] {
  const label = workloadLabel(kind) as string;
  const dst = dstLabel(kind);
  const rows = new Map<string, EdgeRow>();
  for (const s of data.outbound) {
    const l = s.labels;
    if (s.value <= 0 || !l[label]) continue;
    const dstName = l[dst] ?? l.dst_service;
    if (!dstName) continue;
    const srcNamespace = l.namespace ?? "";
    const dstNamespace = l.dst_namespace ?? "";
    const secured = l.tls === "true" ? true : insecureReason(l);
    // The destination's inbound series name the clients it saw; the one with the source's account is this one.
    const clientId = data.inbound
      .filter((i) => i.labels[label] === dstName && (i.labels.namespace ?? "") === dstNamespace)
      .map((i) => i.labels.client_id ?? "")
      .find((id) => {
        const p = spiffeParts(id);
        return p?.namespace === srcNamespace && (kind !== "deployment" || p.account === l[label]);
      });
    const row: EdgeRow = {
      src: l[label] as string,
      dst: dstName,
      srcNamespace,
      dstNamespace,
      clientId: secured === true ? clientId : undefined,
      serverId: l.server_id,
      secured,
    };
    // A pair seen both secured and not (a plaintext retry, a restart) shows the insecure reason.
    const k = JSON.stringify([row.srcNamespace, row.src, row.dstNamespace, row.dst]);
    const known = rows.get(k);
    if (!known || (known.secured === true && secured !== true)) rows.set(k, row);
  }
  // Inbound traffic that arrived without a client identity: its client is not meshed.
  for (const s of data.inbound) {
    const l = s.labels;
    if (s.value <= 0 || l.tls === "true" || !l[label]) continue;
    const row: EdgeRow = {
      src: "(unmeshed)",
      dst: l[label] as string,
      srcNamespace: "",
      dstNamespace: l.namespace ?? "",
      clientId: undefined,
      serverId: undefined,
      secured: REASONS.not_provided_by_remote as string,
    };
    rows.set(JSON.stringify(["", row.src, row.dstNamespace, row.dst]), row);
  }
  return [...rows.values()].sort(
    (a, b) =>
      a.srcNamespace.localeCompare(b.srcNamespace) ||
      a.src.localeCompare(b.src) ||
      a.dst.localeCompare(b.dst),
  );
}
