/**
 * Short-window duplicate suppression for packets seen more than once (a veth and the bridge, a
 * pod's veth and the node's uplink, a SYN and its SYN-ACK). Keys are 53-bit numeric hashes; two
 * generations of Set give a window between `windowMs` and twice that, with no per-key timers.
 */
export class Deduper {
  readonly windowMs: number;
  #current = new Set<number>();
  #previous = new Set<number>();
  #generationStart = Number.NEGATIVE_INFINITY;
  /** Entries per generation before it rotates early (bounds memory under floods). */
  readonly #maxEntries: number;

  constructor(windowMs = 1000, maxEntries = 200_000) {
    this.windowMs = windowMs;
    this.#maxEntries = maxEntries;
  }

  /** Records `key` at time `now` (ms); returns true when it was already seen within the window. */
  seen(key: number, now: number): boolean {
    if (now - this.#generationStart >= this.windowMs || now < this.#generationStart - this.windowMs) {
      this.#rotate(now, now - this.#generationStart >= 2 * this.windowMs);
    } else if (this.#current.size >= this.#maxEntries) {
      this.#rotate(now, false);
    }
    if (this.#current.has(key) || this.#previous.has(key)) return true;
    this.#current.add(key);
    return false;
  }

  #rotate(now: number, dropBoth: boolean): void {
    const old = this.#previous;
    old.clear();
    if (dropBoth) {
      this.#current.clear();
    } else {
      this.#previous = this.#current;
      this.#current = old;
    }
    this.#generationStart = now;
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}

/** Incremental 53-bit key: two independent 32-bit FNV-style lanes folded into one safe integer. */
export class KeyHasher {
  #a = 0x811c9dc5;
  #b = 0x3c6ef372;

  reset(): this {
    this.#a = 0x811c9dc5;
    this.#b = 0x3c6ef372;
    return this;
  }

  byte(v: number): this {
    this.#a = Math.imul(this.#a ^ (v & 255), 0x01000193);
    this.#b = Math.imul(this.#b ^ (v & 255), 0x5bd1e995);
    this.#b ^= this.#b >>> 15;
    return this;
  }

  u16(v: number): this {
    return this.byte(v >>> 8).byte(v);
  }

  bytes(buf: Uint8Array, off: number, len: number): this {
    for (let i = 0; i < len; i++) this.byte(buf[off + i] ?? 0);
    return this;
  }

  value(): number {
    return (this.#a >>> 0) * 0x200000 + ((this.#b >>> 0) & 0x1fffff);
  }
}
