/**
 * The label sets requests are counted under, one per stack (an endpoint, a client identity, an
 * authority with no destination), each with the short id the hot path builds its series keys from.
 * Equal label sets are one stack: two ids for the same labels would expose the same series twice.
 * Stacks are held weakly, so one no endpoint or connection uses any more is let go; its id outlives
 * it for a while, so a stack made again for the same labels meanwhile has the same series.
 */

/**
 * The `authority` label of the stacks of authorities past the maximum (TRELLIS_PROXY_METRICS_MAX_AUTHORITIES):
 * an app naming endless hosts adds series to one label value instead of a set of series per host.
 */
export const OTHER_AUTHORITY = "_other";

interface Entry<L extends object> {
  id: string;
  stack: WeakRef<L>;
  /** The authority whose place this stack holds. */
  authority: string | undefined;
  /** When a sweep first found the stack let go. */
  deadSince?: number;
}

export class Stacks<L extends { authority?: string }> {
  private readonly ids = new WeakMap<L, string>();
  private readonly entries = new Map<string, Entry<L>>();
  private nextId = 0;
  /** Per authority with series of its own, how many stacks name it; at most maxAuthorities. */
  private readonly authorities = new Map<string, number>();

  constructor(private readonly maxAuthorities: number) {}

  /** The stack of `labels`: the one already made for equal labels while it lives, else `labels`. */
  get(labels: L): L {
    const { authority } = labels;
    const folded =
      authority !== undefined &&
      !this.authorities.has(authority) &&
      this.authorities.size >= this.maxAuthorities;
    if (folded) labels.authority = OTHER_AUTHORITY;
    // The authority whose place a new stack takes: none when folded into OTHER_AUTHORITY.
    const own = folded ? undefined : authority;
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    const entry = this.entries.get(key);
    const known = entry?.stack.deref();
    if (known) return known;
    if (entry) {
      entry.stack = new WeakRef(labels);
      entry.deadSince = undefined;
      this.ids.set(labels, entry.id);
      return labels;
    }
    const id = String(this.nextId++);
    this.ids.set(labels, id);
    this.entries.set(key, { id, stack: new WeakRef(labels), authority: own });
    if (own !== undefined) this.authorities.set(own, (this.authorities.get(own) ?? 0) + 1);
    return labels;
  }

  /** The id of a stack; labels that are no stack get one of their own text. */
  id(labels: L): string {
    let id = this.ids.get(labels);
    if (id === undefined) {
      id = `j${JSON.stringify(labels)}`;
      this.ids.set(labels, id);
    }
    return id;
  }

  /**
   * Forgets the stacks let go for `afterMs` (by then their series, which nothing can move any more,
   * are swept), freeing their authorities' places. `now` is performance.now().
   */
  sweep(now: number, afterMs: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.stack.deref()) continue;
      entry.deadSince ??= now;
      if (now - entry.deadSince < afterMs) continue;
      this.entries.delete(key);
      const { authority } = entry;
      if (authority === undefined) continue;
      const left = (this.authorities.get(authority) ?? 1) - 1;
      if (left > 0) this.authorities.set(authority, left);
      else this.authorities.delete(authority);
    }
  }
}
