/**
 * Unit attention conditions (SAM-5 §5.14, SPC-4 §5.14), kept per I_T nexus for
 * one logical unit. A small bounded queue per nexus; the oldest is reported first.
 */

export type AscPair = readonly [number, number];

/** SPC-4 lets a device server drop conditions when it runs out of room; 16 is plenty for one nexus. */
const MAX_PENDING = 16;

export class UnitAttentions {
  private readonly pending = new Map<string, AscPair[]>();
  /**
   * Told when conditions are newly queued (not when one already pending is deduplicated): the
   * nexus keys and the code, once per add/addAll call. Unset: no bookkeeping at all.
   */
  onRaise: ((nexusKeys: string[], code: AscPair) => void) | undefined;

  /** Queues a condition for one nexus (deduplicated). */
  add(nexusKey: string, code: AscPair): void {
    if (this.push(nexusKey, code)) this.onRaise?.([nexusKey], code);
  }

  /** Queues a condition for every nexus in `keys` except `except`. */
  addAll(keys: Iterable<string>, code: AscPair, except?: string): void {
    const raised: string[] | undefined = this.onRaise ? [] : undefined;
    for (const k of keys) if (k !== except && this.push(k, code)) raised?.push(k);
    if (raised && raised.length > 0) this.onRaise!(raised, code);
  }

  private push(nexusKey: string, code: AscPair): boolean {
    let q = this.pending.get(nexusKey);
    if (!q) this.pending.set(nexusKey, (q = []));
    if (q.some((c) => c[0] === code[0] && c[1] === code[1])) return false;
    if (q.length >= MAX_PENDING) q.shift();
    q.push(code);
    return true;
  }

  peek(nexusKey: string): AscPair | undefined {
    return this.pending.get(nexusKey)?.[0];
  }

  /** Removes and returns the oldest condition. */
  take(nexusKey: string): AscPair | undefined {
    const q = this.pending.get(nexusKey);
    const c = q?.shift();
    if (q && q.length === 0) this.pending.delete(nexusKey);
    return c;
  }

  clear(nexusKey: string): void {
    this.pending.delete(nexusKey);
  }

  count(nexusKey: string): number {
    return this.pending.get(nexusKey)?.length ?? 0;
  }
}
