/**
 * Where outbound traffic goes, as the outbound stages ask for it: the `Destination` (a service's
 * endpoints behind a balancer) and `DestinationResolver` (authority to destination and profile)
 * interfaces, and the static table from the configuration, looked up by normalised authority. Each
 * destination balances requests over its endpoints (power of two choices over peak-EWMA latency,
 * failure accrual). The destination service's resolver (index.ts) implements the same interface and
 * consults this table first.
 */
import { type BalancerOptions, P2cBalancer, type Release } from "../balance/index.js";
import { type DestinationConfig, type EndpointConfig, normalizeAuthority } from "../config.js";
import type { CompiledProfile } from "../profiles/index.js";

export interface Destination {
  readonly config: DestinationConfig;
  /**
   * The endpoint for the next request and how to report its outcome, or undefined when there are none
   * (or none but those in `avoid`, which the request already failed on before reaching an app).
   */
  pick(avoid?: ReadonlySet<EndpointConfig>): { endpoint: EndpointConfig; release: Release } | undefined;
}

export interface DestinationResolver {
  /**
   * Called before resolve() for each request: a promise when the authority's first answer is still
   * on its way (the request waits for it, bounded), undefined when resolve() can answer now.
   */
  prepare?(authority: string): Promise<void> | undefined;
  resolve(authority: string): Destination | undefined;
  /** The authority's ServiceProfile (routes, timeouts, traffic split), when there is one. */
  profile?(authority: string): CompiledProfile | undefined;
  /** Destinations reached through their own listener (opaque TCP). */
  bound(): Destination[];
}

class Balanced implements Destination {
  private readonly balancer: P2cBalancer<EndpointConfig>;
  constructor(
    readonly config: DestinationConfig,
    balancer: Partial<BalancerOptions>,
  ) {
    this.balancer = new P2cBalancer(config.endpoints, balancer);
  }
  pick(avoid?: ReadonlySet<EndpointConfig>): { endpoint: EndpointConfig; release: Release } | undefined {
    return this.balancer.pick(avoid);
  }
}

export class StaticDestinations implements DestinationResolver {
  private readonly byAuthority = new Map<string, Destination>();
  /** Authorities as requests spell them; null for one with no destination. */
  private readonly cache = new Map<string, Destination | null>();

  constructor(table: readonly DestinationConfig[], balancer: Partial<BalancerOptions> = {}) {
    for (const config of table) this.byAuthority.set(config.authority, new Balanced(config, balancer));
  }

  resolve(authority: string): Destination | undefined {
    // Authorities repeat on every request: normalise each distinct one once.
    const cached = this.cache.get(authority);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.byAuthority.get(normalizeAuthority(authority));
    if (this.cache.size < 10_000) this.cache.set(authority, found ?? null);
    return found;
  }

  bound(): Destination[] {
    return [...this.byAuthority.values()].filter((d) => d.config.bind !== undefined);
  }
}
