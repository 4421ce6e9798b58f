/**
 * Service discovery: where an authority's requests go. destinations.ts holds the interface the
 * outbound stages resolve through and the static table from the configuration; this file the
 * resolver backed by the destination service: one `Get` stream per authority (and one `GetProfile`
 * for its ServiceProfile), shared by every request to it, turned into a balanced Destination. The
 * first request for an authority waits (bounded) for its first answer; after that, lookups are
 * synchronous. When a stream fails (stream.ts) the last endpoints stay in force and the stream is
 * opened again with jittered backoff, so traffic does not stop while the control plane is away. An
 * authority the service does not know (NOT_FOUND: an IP that is neither a ClusterIP nor a pod's)
 * is answered at once as unknown, and asked again with the same backoff.
 */

import * as grpc from "@grpc/grpc-js";
import {
  DestinationClient,
  type DestinationProfile,
  type Update,
  type WeightedAddr,
} from "../../control/api/gen/trellis/destination/v1/destination.js";
import { formatHostPort } from "../../lib/address.js";
import {
  type CredentialSource,
  CredentialsCertificateProvider,
  TrustAnchorsProvider,
} from "../../lib/identity/index.js";
import { uriSans } from "../../lib/spiffe.js";
import { type BalancerOptions, P2cBalancer, type Release } from "../balance/index.js";
import { DEFAULTS, type DestinationConfig, type EndpointConfig, normalizeAuthority } from "../config.js";
import { type CompiledProfile, compileProfile } from "../profiles/index.js";
import type { Destination, DestinationResolver } from "./destinations.js";
import { ResilientStream } from "./stream.js";

export interface DiscoveryOptions {
  /** host:port of the destination service. */
  addr: string;
  /** Its SPIFFE ID, verified against the trust anchors; plaintext gRPC when absent (local use only). */
  svcName?: string;
  trustAnchorsPem: string;
  /** The proxy's own certificate, presented to the service (which takes only mesh workloads). */
  credentials?: CredentialSource;
  /** The namespace short names resolve in (the pod's). */
  contextNamespace: string;
  /** How long a first request waits for its authority's first answer, ms. */
  firstAnswerTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Streams of an authority no request used for this long are closed (reopened on the next use). */
  idleMs: number;
  /**
   * Authorities whose streams are kept at once: a new one past it closes those of the least
   * recently used (reopened on its next use), so an app naming endless hosts holds bounded memory.
   */
  maxCached: number;
  /** Called as authorities come and go: how many have streams, and how many just closed and why. */
  onCache?(size: number, evicted?: { reason: "capacity" | "idle"; count: number }): void;
  /** Failure accrual of each authority's balancer. */
  balancer?: Partial<BalancerOptions>;
}

/** One authority's endpoints as the destination service last described them. */
class Watch implements Destination {
  config: DestinationConfig;
  /** Undefined until the first answer; false when the service said the name does not exist. */
  exists: boolean | undefined;
  readonly answered: Promise<void>;
  private markAnswered: () => void = () => {};
  private readonly endpoints = new Map<string, EndpointConfig>();
  private readonly balancer: P2cBalancer<EndpointConfig>;
  private readonly stream: ResilientStream<Update>;

  constructor(
    readonly authority: string,
    client: DestinationClient,
    options: DiscoveryOptions,
  ) {
    this.config = { authority, protocol: "http", labels: {}, endpoints: [] };
    this.balancer = new P2cBalancer<EndpointConfig>([], options.balancer);
    this.answered = new Promise((resolve) => {
      this.markAnswered = resolve;
    });
    this.stream = new ResilientStream(
      `Get ${authority}`,
      () => client.get({ authority, contextNamespace: options.contextNamespace }),
      (u) => this.apply(u),
      options,
      () => this.notFound(),
    );
  }

  /** The service does not know the authority: nothing to balance over, answered now. */
  private notFound(): void {
    this.endpoints.clear();
    this.exists = false;
    this.config = { ...this.config, endpoints: [] };
    this.balancer.update([]);
    this.markAnswered();
  }

  pick(avoid?: ReadonlySet<EndpointConfig>): { endpoint: EndpointConfig; release: Release } | undefined {
    return this.balancer.pick(avoid);
  }

  close(): void {
    this.stream.close();
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

/** One authority's profile: routes, response classes, timeouts, traffic split. */
class ProfileWatch {
  profile: CompiledProfile | undefined;
  answeredYet = false;
  readonly answered: Promise<void>;
  private markAnswered: () => void = () => {};
  private readonly stream: ResilientStream<DestinationProfile>;

  constructor(
    authority: string,
    client: DestinationClient,
    options: DiscoveryOptions,
    onProfile: (p: CompiledProfile) => void,
  ) {
    this.answered = new Promise((resolve) => {
      this.markAnswered = resolve;
    });
    this.stream = new ResilientStream(
      `GetProfile ${authority}`,
      () => client.getProfile({ authority, contextNamespace: options.contextNamespace }),
      (p) => {
        this.profile = compileProfile(p, this.profile);
        this.answeredYet = true;
        onProfile(this.profile);
        this.markAnswered();
      },
      options,
      () => {
        this.profile = undefined;
        this.answeredYet = true;
        this.markAnswered();
      },
    );
  }

  close(): void {
    this.stream.close();
  }
}

function endpointOf(a: WeightedAddr): EndpointConfig | undefined {
  if (!a.addr) return undefined;
  return {
    address: formatHostPort(a.addr.ip, a.addr.port),
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
  private readonly profiles = new Map<string, ProfileWatch>();
  /**
   * When each authority was last asked for (its streams are kept while in use), least recently used
   * first: each use moves it to the end.
   */
  private readonly lastUsed = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

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
      credentials = grpc.experimental.createCertificateProviderChannelCredentials(
        new TrustAnchorsProvider(options.trustAnchorsPem),
        options.credentials ? new CredentialsCertificateProvider(options.credentials) : null,
        {
          checkServerIdentity: (_host, cert) => {
            const uris = uriSans(cert.subjectaltname);
            return uris.length === 1 && uris[0] === expected
              ? undefined
              : new Error(
                  `the destination service presented ${uris.join(", ") || "no SPIFFE ID"}, expected ${expected}`,
                );
          },
        },
      );
    }
    this.client = new DestinationClient(options.addr, credentials, clientOptions);
    this.sweeper = setInterval(() => this.sweep(), Math.min(options.idleMs, 60_000));
    this.sweeper.unref();
  }

  /** Closes the streams of authorities nothing asked for within idleMs. */
  private sweep(): void {
    // Never shorter than a first request's wait for its answers: that request still needs the streams.
    const before = Date.now() - Math.max(this.options.idleMs, 2 * this.options.firstAnswerTimeoutMs);
    let count = 0;
    for (const [key, used] of this.lastUsed) {
      // Least recently used first: the first one still in use ends the sweep.
      if (used > before) break;
      this.forget(key);
      count++;
    }
    if (count > 0) this.options.onCache?.(this.lastUsed.size, { reason: "idle", count });
  }

  /** Closes an authority's streams. */
  private forget(key: string): void {
    this.lastUsed.delete(key);
    this.watches.get(key)?.close();
    this.watches.delete(key);
    this.profiles.get(key)?.close();
    this.profiles.delete(key);
  }

  /** Marks an authority used now; a new one past maxCached closes the least recently used. */
  private touch(key: string): void {
    const known = this.lastUsed.delete(key);
    this.lastUsed.set(key, Date.now());
    if (known) return;
    let count = 0;
    for (const oldest of this.lastUsed.keys()) {
      if (this.lastUsed.size <= this.options.maxCached) break;
      this.forget(oldest);
      count++;
    }
    this.options.onCache?.(this.lastUsed.size, count > 0 ? { reason: "capacity", count } : undefined);
  }

  /** Opens the authority's streams if needed; resolves once both answered (or the wait is over). */
  prepare(authority: string): Promise<void> | undefined {
    if (this.fallback?.resolve(authority)) return undefined;
    this.touch(normalizeAuthority(authority));
    const watch = this.watch(authority);
    const profile = this.profileWatch(authority);
    if (watch.exists !== undefined && profile.answeredYet) return undefined;
    return Promise.race([
      Promise.all([watch.answered, profile.answered]).then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, this.options.firstAnswerTimeoutMs).unref()),
    ]);
  }

  /** The authority's profile, once the destination service sent one. */
  profile(authority: string): CompiledProfile | undefined {
    return this.profiles.get(normalizeAuthority(authority))?.profile;
  }

  resolve(authority: string): Destination | undefined {
    const fixed = this.fallback?.resolve(authority);
    if (fixed) return fixed;
    const key = normalizeAuthority(authority);
    const watch = this.watches.get(key);
    if (watch) this.touch(key);
    return watch?.exists ? watch : undefined;
  }

  bound(): Destination[] {
    return this.fallback?.bound() ?? [];
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const w of this.watches.values()) w.close();
    for (const p of this.profiles.values()) p.close();
    this.watches.clear();
    this.profiles.clear();
    this.client.close();
  }

  private profileWatch(authority: string): ProfileWatch {
    const key = normalizeAuthority(authority);
    let watch = this.profiles.get(key);
    if (!watch) {
      // A traffic split's backends are resolved ahead of their first request.
      watch = new ProfileWatch(key, this.client, this.options, (p) => {
        for (const d of p.dstOverrides) this.watch(d.authority);
      });
      this.profiles.set(key, watch);
    }
    return watch;
  }

  private watch(authority: string): Watch {
    const key = normalizeAuthority(authority);
    let watch = this.watches.get(key);
    if (!watch) {
      watch = new Watch(key, this.client, this.options);
      this.watches.set(key, watch);
      // A traffic split's backend, opened ahead of its first request, counts against the bound too.
      this.touch(key);
    }
    return watch;
  }
}
