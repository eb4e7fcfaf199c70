/**
 * Short-window duplicate suppression for packets seen more than once (a veth and the bridge, a
 * pod's veth and the node's uplink, a SYN and its SYN-ACK, a retransmission). Keys are 64-bit
 * hashes given as two 32-bit lanes; the table is a fixed open-addressing array with a timestamp
 * per slot, so the hot path allocates nothing and expired slots are simply reused.
 */
const PROBES = 4;
/** Slot layout in one Int32Array (one cache line covers the probe run): key lane a, lane b, time. */
const SLOT = 4;
const EMPTY = -(2 ** 31);

export class Deduper {
  readonly windowMs: number;
  readonly #mask: number;
  readonly #s: Int32Array;
  /** Slot times are stored as ms relative to this base (int32). */
  #base = Number.NaN;

  /**
   * `slots` is rounded up to a power of two; it bounds memory (16 bytes per slot). Copies of a
   * packet arrive within micro- to milliseconds, so a small, cache-resident table is enough; at
   * rates beyond it the effective window shrinks below `windowMs`.
   */
  constructor(windowMs = 1000, slots = 1 << 13) {
    this.windowMs = windowMs;
    let n = 1024;
    while (n < slots) n <<= 1;
    this.#mask = n - 1;
    this.#s = new Int32Array(n * SLOT);
    this.#clear();
  }

  #clear(): void {
    for (let i = 2; i < this.#s.length; i += SLOT) this.#s[i] = EMPTY;
  }

  /**
   * Records key (a, b) at time `now` (ms); returns true when it was seen within the window.
   * When all probed slots are live (a flood), the oldest is overwritten: at worst a duplicate
   * is counted twice, never is a new packet dropped.
   */
  seen(a: number, b: number, now: number): boolean {
    if (Number.isNaN(this.#base) || now - this.#base > 2 ** 30 || now < this.#base - 2 ** 30) {
      this.#base = now;
      this.#clear();
    }
    const t = Math.floor(now - this.#base);
    const ka = a | 0;
    const kb = b | 0;
    const horizon = t - this.windowMs;
    const future = t + this.windowMs;
    const s = this.#s;
    let i = (ka ^ Math.imul(kb, 0x9e3779b1)) & this.#mask;
    let victim = i;
    let oldest = 2 ** 31;
    for (let p = 0; p < PROBES; p++) {
      const o = i * SLOT;
      const st = s[o + 2]!;
      if (st !== EMPTY && st >= horizon && st <= future) {
        if (s[o] === ka && s[o + 1] === kb) {
          s[o + 2] = t;
          return true;
        }
        if (st < oldest) {
          oldest = st;
          victim = i;
        }
      } else if (oldest !== EMPTY) {
        oldest = EMPTY;
        victim = i;
      }
      i = (i + 1) & this.#mask;
    }
    const o = victim * SLOT;
    s[o] = ka;
    s[o + 1] = kb;
    s[o + 2] = t;
    return false;
  }
}

/** Mixes `words` 32-bit big-endian words at `off` into `seed` (murmur3-style); returns int32. */
export function hashWords(buf: Buffer, off: number, bytes: number, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    let k = buf.readInt32BE(off + i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}
