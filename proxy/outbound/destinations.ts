/**
 * Where outbound traffic goes: the static destination table from the configuration, looked up by
 * normalised authority. Each destination spreads requests over its endpoints in turn; the
 * destination service and a latency-aware balancer replace this table later without changing the
 * interface the outbound stack calls.
 */
import { type DestinationConfig, type EndpointConfig, normalizeAuthority } from "../config.js";

export interface Destination {
  readonly config: DestinationConfig;
  /** The endpoint for the next request, or undefined when there are none. */
  pick(): EndpointConfig | undefined;
}

export interface DestinationResolver {
  resolve(authority: string): Destination | undefined;
  /** Destinations reached through their own listener (opaque TCP). */
  bound(): Destination[];
}

class RoundRobin implements Destination {
  private next = 0;
  constructor(readonly config: DestinationConfig) {}
  pick(): EndpointConfig | undefined {
    const eps = this.config.endpoints;
    if (eps.length === 0) return undefined;
    const ep = eps[this.next % eps.length];
    this.next = (this.next + 1) % eps.length;
    return ep;
  }
}

export class StaticDestinations implements DestinationResolver {
  private readonly byAuthority = new Map<string, Destination>();
  private readonly cache = new Map<string, Destination | undefined>();

  constructor(table: readonly DestinationConfig[]) {
    for (const config of table) this.byAuthority.set(config.authority, new RoundRobin(config));
  }

  resolve(authority: string): Destination | undefined {
    // Authorities repeat on every request: normalise each distinct one once.
    if (this.cache.has(authority)) return this.cache.get(authority);
    const found = this.byAuthority.get(normalizeAuthority(authority));
    if (this.cache.size < 10_000) this.cache.set(authority, found);
    return found;
  }

  bound(): Destination[] {
    return [...this.byAuthority.values()].filter((d) => d.config.bind !== undefined);
  }
}
