/**
 * `viz stat`: which series answer for a resource (the plan), what the source returns for them (the
 * gathered data), and the rows computed from it by pure functions. Success and RPS come from
 * `response_total` by `classification`, latency from `response_latency_ms`, TCP from `tcp_*`, as
 * Linkerd's stat summary computes them: a workload's own inbound traffic, a `--to` or `--from` pair's
 * client-side outbound traffic, a Service's clients' outbound traffic.
 */
import { parseQuantityMilli } from "../lib/quantity.js";
import { dstLabel, type Kind, type Resource, workloadLabel } from "./resources.js";
import type { Matchers, Series } from "./series.js";
import type { MetricsSource } from "./source.js";

export interface StatQuery {
  resource: Resource;
  /** undefined: every namespace (-A). */
  namespace: string | undefined;
  from?: Resource;
  to?: Resource;
}

/** Which series to read and which labels name a row. */
export interface StatPlan {
  match: Matchers;
  /** [namespace label, name label]. */
  by: [string, string];
  direction: "inbound" | "outbound";
  /** Whether MESHED and TCP columns apply (the workload's own proxies answer). */
  ownProxies: boolean;
}

/** The plan for a resource; a `{ error }` for a combination that has no answer. */
export function statPlan(q: StatQuery): StatPlan | { error: string } {
  const { resource, namespace, from, to } = q;
  const ns = (label: string): Matchers => (namespace === undefined ? {} : { [label]: namespace });
  if (resource.kind === "trafficsplit") return { error: "a TrafficSplit's rows come from statSplitRows" };
  if (from && to) return { error: "--from and --to cannot be used together" };
  if (resource.kind === "service") {
    if (to)
      return { error: "--to is for workloads; a Service's stats are its clients' outbound traffic already" };
    const match: Matchers = { direction: "outbound", ...ns("dst_namespace") };
    if (resource.name) match.dst_service = resource.name;
    if (from) Object.assign(match, fromMatch(from));
    return { match, by: ["dst_namespace", "dst_service"], direction: "outbound", ownProxies: false };
  }
  const label = workloadLabel(resource.kind) as string;
  if (to) {
    const match: Matchers = { direction: "outbound", ...ns("namespace") };
    if (resource.name) match[label] = resource.name;
    if (to.name) match[dstLabel(to.kind)] = to.name;
    return { match, by: ["namespace", label], direction: "outbound", ownProxies: false };
  }
  if (from) {
    if (resource.kind === "namespace") return { error: "--from needs a workload, not a namespace" };
    const dst = dstLabel(resource.kind);
    const match: Matchers = { direction: "outbound", ...ns("dst_namespace"), ...fromMatch(from) };
    if (resource.name) match[dst] = resource.name;
    return { match, by: ["dst_namespace", dst], direction: "outbound", ownProxies: false };
  }
  const match: Matchers = { direction: "inbound", ...ns("namespace") };
  if (resource.name) match[label] = resource.name;
  return { match, by: ["namespace", label], direction: "inbound", ownProxies: true };
}

function fromMatch(from: Resource): Matchers {
  const label = workloadLabel(from.kind);
  return label && from.name ? { [label]: from.name } : {};
}

/** What the source answered for one plan. */
export interface StatData {
  windowSeconds: number;
  responses: Series[];
  p50: Series[];
  p95: Series[];
  p99: Series[];
  tcpOpen: Series[];
  readBytes: Series[];
  writeBytes: Series[];
  /** identity_cert_expiration_timestamp_seconds per pod: which pods exist and which are meshed. */
  pods: Series[];
  /** The rows that exist whether or not they had traffic in the window (lifetime request counts). */
  known: Series[];
}

export async function gatherStat(source: MetricsSource, plan: StatPlan): Promise<StatData> {
  const { match, by } = plan;
  const noDirection = Object.fromEntries(Object.entries(match).filter(([k]) => k !== "direction"));
  const tcpMatch: Matchers = { ...match, peer: "src" };
  const [responses, p50, p95, p99, tcpOpen, readBytes, writeBytes, pods, known] = await Promise.all([
    source.increase("response_total", match, [...by, "classification"]),
    source.quantile(0.5, "response_latency_ms", match, by),
    source.quantile(0.95, "response_latency_ms", match, by),
    source.quantile(0.99, "response_latency_ms", match, by),
    plan.ownProxies ? source.current("tcp_open_connections", tcpMatch, by) : [],
    plan.ownProxies ? source.increase("tcp_read_bytes_total", tcpMatch, by) : [],
    plan.ownProxies ? source.increase("tcp_write_bytes_total", tcpMatch, by) : [],
    plan.ownProxies
      ? source.current("identity_cert_expiration_timestamp_seconds", noDirection, [...by, "pod"])
      : [],
    source.current("request_total", match, by),
  ]);
  return {
    windowSeconds: source.windowSeconds,
    responses,
    p50,
    p95,
    p99,
    tcpOpen,
    readBytes,
    writeBytes,
    pods,
    known,
  };
}

export interface StatRow {
  namespace: string;
  name: string;
  /** Meshed pods and pods, for a workload's own rows. */
  meshed?: { meshed: number; total: number };
  /** 0..1, undefined without responses in the window. */
  success: number | undefined;
  rps: number;
  latencyMsP50: number | undefined;
  latencyMsP95: number | undefined;
  latencyMsP99: number | undefined;
  tcpOpenConnections?: number;
  readBytesPerSecond?: number;
  writeBytesPerSecond?: number;
}

const key = (labels: Record<string, string>, by: readonly string[]) =>
  JSON.stringify(by.map((l) => labels[l] ?? ""));

function index(series: Series[], by: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series) out.set(key(s.labels, by), (out.get(key(s.labels, by)) ?? 0) + s.value);
  return out;
}

/** One row per resource that exists (has a proxy or has been called), sorted by namespace and name. */
export function statRows(data: StatData, by: readonly [string, string], ownProxies: boolean): StatRow[] {
  const names = new Map<string, Record<string, string>>();
  for (const s of [...data.known, ...data.pods, ...data.responses]) {
    const k = key(s.labels, by);
    if (!s.labels[by[1]]) continue;
    if (!names.has(k)) names.set(k, s.labels);
  }
  const success = index(
    data.responses.filter((s) => s.labels.classification === "success"),
    by,
  );
  const all = index(data.responses, by);
  const [p50, p95, p99, tcp, read, write] = [
    data.p50,
    data.p95,
    data.p99,
    data.tcpOpen,
    data.readBytes,
    data.writeBytes,
  ].map((s) => index(s, by)) as [
    Map<string, number>,
    Map<string, number>,
    Map<string, number>,
    Map<string, number>,
    Map<string, number>,
    Map<string, number>,
  ];
  const rows: StatRow[] = [];
  for (const [k, labels] of names) {
    const responses = all.get(k) ?? 0;
    const row: StatRow = {
      namespace: labels[by[0]] ?? "",
      name: labels[by[1]] ?? "",
      success: responses > 0 ? (success.get(k) ?? 0) / responses : undefined,
      rps: responses / data.windowSeconds,
      latencyMsP50: responses > 0 ? p50.get(k) : undefined,
      latencyMsP95: responses > 0 ? p95.get(k) : undefined,
      latencyMsP99: responses > 0 ? p99.get(k) : undefined,
    };
    if (ownProxies) {
      const pods = data.pods.filter((s) => key(s.labels, by) === k);
      row.meshed = { meshed: pods.filter((s) => s.value > 0).length, total: pods.length };
      row.tcpOpenConnections = tcp.get(k) ?? 0;
      row.readBytesPerSecond = (read.get(k) ?? 0) / data.windowSeconds;
      row.writeBytesPerSecond = (write.get(k) ?? 0) / data.windowSeconds;
    }
    rows.push(row);
  }
  return rows.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/** A TrafficSplit as the destination service reads it: an apex Service and weighted backend Services. */
export interface TrafficSplit {
  name: string;
  namespace: string;
  apex: string;
  backends: { service: string; weight: number }[];
}

/** A TrafficSplit object as Kubernetes or a store holds it (SMI v1alpha2 or v1alpha1 weights). */
export interface TrafficSplitObject {
  metadata?: { name?: string; namespace?: string };
  spec?: { service?: string; backends?: { service?: string; weight?: number | string }[] };
}

/** The split an object describes; undefined when it names no split or no apex Service. */
export function trafficSplitOf(o: TrafficSplitObject): TrafficSplit | undefined {
  if (!o.metadata?.name || !o.spec?.service) return undefined;
  return {
    name: o.metadata.name,
    namespace: o.metadata.namespace ?? "default",
    apex: o.spec.service,
    backends: (o.spec.backends ?? []).map((b) => ({
      service: b.service ?? "",
      // A quantity (v1alpha1: `900m`) or an integer (v1alpha2): shares compare either.
      weight: (parseQuantityMilli(b.weight ?? 0) ?? 0) / 1000,
    })),
  };
}

export interface SplitRow extends StatRow {
  /** The TrafficSplit's name. */
  split: string;
  apex: string;
  /** The backend's share of the split, 0..1. */
  weight: number;
}

/** A split's rows: one per backend, from its clients' outbound traffic to that backend Service. */
export function splitRows(split: TrafficSplit, serviceRows: readonly StatRow[]): SplitRow[] {
  const total = split.backends.reduce((n, b) => n + b.weight, 0) || 1;
  return split.backends.map((b) => {
    const row = serviceRows.find((r) => r.name === b.service && r.namespace === split.namespace);
    return {
      namespace: split.namespace,
      name: b.service,
      split: split.name,
      apex: split.apex,
      weight: b.weight / total,
      success: row?.success,
      rps: row?.rps ?? 0,
      latencyMsP50: row?.latencyMsP50,
      latencyMsP95: row?.latencyMsP95,
      latencyMsP99: row?.latencyMsP99,
    };
  });
}

/** Kinds `viz stat` accepts, for a usage error's list. */
export const STAT_KINDS: readonly Kind[] = [
  "deployment",
  "statefulset",
  "daemonset",
  "pod",
  "namespace",
  "service",
  "trafficsplit",
];
