/**
 * Which batch ids the map database may hold, without asking it (ADR 0100): a counting Bloom
 * filter (two 8-bit counters per id in 4 MiB) over the ids of the last `capacity` planned group
 * commits, oldest forgotten first like the database's count pruning. `mayHave` is never false for
 * an id the database holds (a superset; age pruning and failed groups only leave extra entries);
 * a `true` is confirmed by an exact look-up in the database (≈ 1 % of new ids at 200,000 held).
 */
const BITS = 22;
const MASK = (1 << BITS) - 1;
const SATURATED = 255;

function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

const slotA = (h: number): number => h & MASK;
const slotB = (h: number): number => {
  let x = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) & MASK;
};

export class BatchIdFilter {
  #counts = new Uint8Array(1 << BITS);
  #ring: Int32Array;
  #head = 0;
  #size = 0;

  /** `capacity`: at least as many ids as the database can hold between two prunings. */
  constructor(capacity: number) {
    this.#ring = new Int32Array(Math.max(1, capacity));
  }

  add(id: string): void {
    const h = hash(id);
    const ring = this.#ring;
    if (this.#size === ring.length) {
      this.#dec(ring[this.#head] as number);
      this.#size--;
      this.#head = (this.#head + 1) % ring.length;
    }
    ring[(this.#head + this.#size) % ring.length] = h;
    this.#size++;
    this.#inc(h);
  }

  /**
   * Takes back the ids of the group just added (the last ones, in the order they were added) when
   * its commit failed: a failed group must not take ring room from ids the database holds. Stops
   * at the first id that is not at the end of the ring (then the extra entries stay: harmless).
   */
  forgetLast(ids: readonly string[]): void {
    const ring = this.#ring;
    for (let i = ids.length - 1; i >= 0 && this.#size > 0; i--) {
      const tail = (this.#head + this.#size - 1) % ring.length;
      const h = ring[tail] as number;
      if (h !== hash(ids[i] as string)) return;
      this.#dec(h);
      this.#size--;
    }
  }

  mayHave(id: string): boolean {
    const h = hash(id);
    return (this.#counts[slotA(h)] as number) > 0 && (this.#counts[slotB(h)] as number) > 0;
  }

  get size(): number {
    return this.#size;
  }

  #inc(h: number): void {
    const c = this.#counts;
    for (const i of [slotA(h), slotB(h)]) if ((c[i] as number) < SATURATED) c[i] = (c[i] as number) + 1;
  }

  #dec(h: number): void {
    const c = this.#counts;
    // A saturated counter stays (it may count more ids than it can say): never a false "absent".
    for (const i of [slotA(h), slotB(h)]) if ((c[i] as number) < SATURATED) c[i] = (c[i] as number) - 1;
  }
}
