/**
 * Service discovery from the destination service: one `Get` stream per authority, shared by every
 * request to it, turned into a balanced Destination the outbound stack routes with. The first
 * request for an authority waits (bounded) for its first answer; after that, lookups are
 * synchronous. When the stream fails the last endpoints stay in force and the stream is opened again
 * with jittered backoff, so traffic does not stop while the control plane is away.
 */
import * as grpc from "@grpc/grpc-js";
import {
  DestinationClient,
  type Update,
  type WeightedAddr,
} from "../../control/api/gen/trellis/destination/v1/destination.js";
import { logger } from "../../control/api/log.js";
import { uriSans } from "../../control/api/spiffe.js";
import { P2cBalancer, type Release } from "../balance/index.js";
import { DEFAULTS, type DestinationConfig, type EndpointConfig, normalizeAuthority } from "../config.js";
import type { Destination, DestinationResolver } from "../outbound/destinations.js";

const log = logger("discovery");

export interface DiscoveryOptions {
  /** host:port of the destination service. */
  addr: string;
  /** Its SPIFFE ID, verified against the trust anchors; plaintext gRPC when absent (local use only). */
  svcName?: string;
  trustAnchorsPem: string;
  /** The namespace short names resolve in (the pod's). */
  contextNamespace: string;
  /** How long a first request waits for its authority's first answer, ms. */
  firstAnswerTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** One authority's endpoints as the destination service last described them. */
class Watch implements Destination {
  config: DestinationConfig;
  /** Undefined until the first answer; false when the service said the name does not exist. */
  exists: boolean | undefined;
  readonly answered: Promise<void>;
  private markAnswered: () => void = () => {};
  private readonly endpoints = new Map<string, EndpointConfig>();
  private readonly balancer = new P2cBalancer<EndpointConfig>([]);
  private call: grpc.ClientReadableStream<Update> | undefined;
  private retries = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly authority: string,
    private readonly client: DestinationClient,
    private readonly options: DiscoveryOptions,
  ) {
    this.config = { authority, protocol: "http", labels: {}, endpoints: [] };
    this.answered = new Promise((resolve) => {
      this.markAnswered = resolve;
    });
    this.open();
  }

  pick(): { endpoint: EndpointConfig; release: Release } | undefined {
    return this.balancer.pick();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.cancel();
  }

  private open(): void {
    const call = this.client.get({
      authority: this.authority,
      contextNamespace: this.options.contextNamespace,
    });
    this.call = call;
    call.on("data", (update: Update) => {
      this.retries = 0;
      this.apply(update);
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (this.closed || err.code === grpc.status.CANCELLED) return;
      this.reopen(`${grpc.status[err.code] ?? err.code}: ${err.details}`);
    });
    call.on("end", () => {
      if (!this.closed) this.reopen("the stream ended");
    });
  }

  private reopen(why: string): void {
    if (this.call === undefined || this.closed) return;
    this.call = undefined;
    const base = Math.min(this.options.retryBaseMs * 2 ** this.retries, this.options.retryMaxMs);
    const delay = base / 2 + Math.random() * (base / 2);
    this.retries++;
    log.warn(
      { authority: this.authority, why, retryMs: Math.round(delay), endpoints: this.endpoints.size },
      "destination stream lost; keeping the last endpoints",
    );
    this.timer = setTimeout(() => this.open(), delay);
  }

  private apply(update: Update): void {
    const u = update.update;
    if (!u) return;
    if (u.$case === "add") {
      this.config = { ...this.config, labels: { ...u.value.metricLabels } };
      for (const addr of u.value.addrs) {
        const ep = endpointOf(addr);
        if (ep) this.endpoints.set(ep.address, ep);
      }
      this.exists = true;
    } else if (u.$case === "remove") {
      for (const a of u.value.addrs) this.endpoints.delete(`${a.ip}:${a.port}`);
    } else {
      this.endpoints.clear();
      this.exists = u.value.exists;
    }
    const endpoints = [...this.endpoints.values()];
    this.config = { ...this.config, endpoints };
    this.balancer.update(endpoints);
    this.markAnswered();
  }
}

function endpointOf(a: WeightedAddr): EndpointConfig | undefined {
  if (!a.addr) return undefined;
  const host = a.addr.ip.includes(":") ? `[${a.addr.ip}]` : a.addr.ip;
  return {
    address: `${host}:${a.addr.port}`,
    identity: a.identity || undefined,
    inboundPort: a.proxyInboundPort || DEFAULTS.PEER_INBOUND_PORT,
    labels: { ...a.metricLabels },
  };
}

/**
 * Resolves through the destination service, after the static table (explicit configuration wins).
 * An authority the service does not know resolves to nothing: the request goes straight to it.
 */
export class DiscoveryResolver implements DestinationResolver {
  private readonly client: DestinationClient;
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly options: DiscoveryOptions,
    private readonly fallback?: DestinationResolver,
  ) {
    let credentials = grpc.credentials.createInsecure();
    const clientOptions: grpc.ClientOptions = {
      "grpc.keepalive_time_ms": 30_000,
      "grpc.initial_reconnect_backoff_ms": options.retryBaseMs,
      "grpc.max_reconnect_backoff_ms": options.retryMaxMs,
    };
    if (options.svcName) {
      const expected = options.svcName;
      credentials = grpc.credentials.createSsl(Buffer.from(options.trustAnchorsPem), null, null, {
        checkServerIdentity: (_host, cert) => {
          const uris = uriSans(cert.subjectaltname);
          return uris.length === 1 && uris[0] === expected
            ? undefined
            : new Error(
                `the destination service presented ${uris.join(", ") || "no SPIFFE ID"}, expected ${expected}`,
              );
        },
      });
    }
    this.client = new DestinationClient(options.addr, credentials, clientOptions);
  }

  /** Opens the authority's stream if needed; resolves once it answered (or the wait is over). */
  prepare(authority: string): Promise<void> | undefined {
    if (this.fallback?.resolve(authority)) return undefined;
    const watch = this.watch(authority);
    if (watch.exists !== undefined) return undefined;
    return Promise.race([
      watch.answered,
      new Promise<void>((resolve) => setTimeout(resolve, this.options.firstAnswerTimeoutMs).unref()),
    ]);
  }

  resolve(authority: string): Destination | undefined {
    const fixed = this.fallback?.resolve(authority);
    if (fixed) return fixed;
    const watch = this.watches.get(normalizeAuthority(authority));
    return watch?.exists ? watch : undefined;
  }

  bound(): Destination[] {
    return this.fallback?.bound() ?? [];
  }

  close(): void {
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
    this.client.close();
  }

  private watch(authority: string): Watch {
    const key = normalizeAuthority(authority);
    let watch = this.watches.get(key);
    if (!watch) {
      watch = new Watch(key, this.client, this.options);
      this.watches.set(key, watch);
    }
    return watch;
  }
}
