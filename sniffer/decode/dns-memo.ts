/**
 * A memo of decoded DNS responses keyed by the message bytes after the ID. Cluster DNS answers a
 * name with the same bytes every time (only the 16-bit ID differs), so most responses on a node
 * repeat one seen moments ago; for those, hashing the message (~20 32-bit words) replaces the
 * decode (question name validation and hashing, records, CNAME chain). The decode result is a
 * pure function of the message bytes relative to its start, so a hit restores exactly what
 * `decodeDnsResponse` would produce (offsets rebased to the new message, the ID read from it).
 *
 * The key is two independent 32-bit hashes plus the length, seeded per process, as for the
 * aggregator's name keys: with a few thousand entries a false hit is astronomically unlikely,
 * and the seeds keep collisions from being precomputed. Direct-mapped, fixed size, no allocation.
 *
 * A miss costs the hash on top of the decode. When fewer than a quarter of the lookups of a
 * window of 4096 hit (every answer different: changing TTLs of upstream names), `worthIt()`
 * turns the memo off for the next 61 440 messages, then tries again: in that worst case the
 * overhead is paid for 1/16 of the messages.
 */
import { DNS_OK, type DnsAnswer } from './dns.ts';

const SLOTS = 4096;
const H1 = 0;
const H2 = 1;
const LEN = 2;
const Q_OFF = 3; // relative to the message start
const NAME_LEN = 4;
const NAME_HASH = 5;
const NAME_HASH2 = 6;
const QTYPE = 7;
const TTL = 8;
const V4N = 9;
const V6N = 10;
const V4 = 11;
/** Answers with more addresses than this are decoded every time (rare; keeps entries small). */
const KEEP = 4;
const V6 = V4 + KEEP; // relative offsets
const STRIDE = V6 + KEEP;
const HEADER = 12;
const WINDOW = 4096;
const OFF_FOR = WINDOW * 15;

export class DnsMemo {
  readonly #e = new Int32Array(SLOTS * STRIDE);
  readonly #seed1: number;
  readonly #seed2: number;
  /** Slot offset of the last lookup (for `store`), -1 when the message cannot be memoised. */
  #o = -1;
  #h1 = 0;
  #h2 = 0;
  #len = 0;
  #viewOf: Buffer | undefined;
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(4));
  hits = 0;
  misses = 0;
  /** Lookups left in the current window, and hits in it. */
  #window = WINDOW;
  #windowHits = 0;
  /** Messages left to decode without the memo (after a window of few hits). */
  #off = 0;

  constructor(seed1 = (Math.random() * 0x100000000) | 0, seed2 = (Math.random() * 0x100000000) | 0) {
    this.#seed1 = seed1 | 0;
    this.#seed2 = seed2 | 0;
  }

  /** Whether to look the next message up (false while the memo is off after a window of few hits). */
  worthIt(): boolean {
    if (this.#off > 0) {
      this.#off--;
      return false;
    }
    return true;
  }

  /**
   * Looks the message `buf[start, end)` up. On a hit fills `out` as `decodeDnsResponse` would for
   * a DNS_OK result and returns true; on a miss remembers the key for `store`.
   */
  lookup(buf: Buffer, start: number, end: number, out: DnsAnswer): boolean {
    const len = end - start;
    if (len < HEADER || end > buf.length) {
      this.#o = -1;
      return false;
    }
    if (buf !== this.#viewOf) {
      this.#viewOf = buf;
      this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const dv = this.#view;
    let h1 = this.#seed1 ^ len;
    let h2 = (this.#seed2 + Math.imul(len, 0x9e3779b1)) | 0;
    let i = start + 2; // past the ID
    for (; i + 4 <= end; i += 4) {
      const x = dv.getInt32(i);
      let k = Math.imul(x, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h1 ^= Math.imul(k, 0x1b873593);
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      h2 = (h2 + Math.imul(x ^ (x >>> 16), 0x85ebca77)) | 0;
      h2 = Math.imul((h2 << 13) | (h2 >>> 19), 0x9e3779b1);
    }
    for (; i < end; i++) {
      const b = buf[i]!;
      h1 = Math.imul(h1 ^ b, 0x01000193);
      h2 = (Math.imul(h2, 31) + b + 1) | 0;
    }
    h1 ^= h1 >>> 16;
    h1 = Math.imul(h1, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h2 ^= h2 >>> 15;
    h2 = Math.imul(h2, 0xc2b2ae3d);
    h2 ^= h2 >>> 16;
    const o = ((h1 ^ (h2 >>> 12)) & (SLOTS - 1)) * STRIDE;
    this.#o = o;
    this.#h1 = h1;
    this.#h2 = h2;
    this.#len = len;
    const e = this.#e;
    const hit = e[o + LEN] === len && e[o + H1] === h1 && e[o + H2] === h2;
    if (--this.#window === 0) {
      if ((this.#windowHits + (hit ? 1 : 0)) * 4 < WINDOW) this.#off = OFF_FOR;
      this.#window = WINDOW;
      this.#windowHits = 0;
    }
    if (!hit) {
      this.misses++;
      return false;
    }
    this.#windowHits++;
    this.hits++;
    out.msgStart = start;
    out.id = (buf[start]! << 8) | buf[start + 1]!;
    out.qOff = start + e[o + Q_OFF]!;
    out.nameLen = e[o + NAME_LEN]!;
    out.nameHash = e[o + NAME_HASH]!;
    out.nameHash2 = e[o + NAME_HASH2]!;
    out.qtype = e[o + QTYPE]!;
    out.ttl = e[o + TTL]!;
    const n4 = e[o + V4N]!;
    const n6 = e[o + V6N]!;
    for (let j = 0; j < n4; j++) out.v4[j] = e[o + V4 + j]!;
    for (let j = 0; j < n6; j++) out.v6Off[j] = start + e[o + V6 + j]!;
    out.v4Count = n4;
    out.v6Count = n6;
    return true;
  }

  /** Remembers the DNS_OK result `a` of the message last looked up (and missed). */
  store(a: DnsAnswer, status: number): void {
    const o = this.#o;
    this.#o = -1;
    if (o < 0 || status !== DNS_OK || a.v4Count > KEEP || a.v6Count > KEEP) return;
    const e = this.#e;
    const start = a.msgStart;
    e[o + H1] = this.#h1;
    e[o + H2] = this.#h2;
    e[o + LEN] = this.#len;
    e[o + Q_OFF] = a.qOff - start;
    e[o + NAME_LEN] = a.nameLen;
    e[o + NAME_HASH] = a.nameHash;
    e[o + NAME_HASH2] = a.nameHash2;
    e[o + QTYPE] = a.qtype;
    e[o + TTL] = a.ttl;
    e[o + V4N] = a.v4Count;
    e[o + V6N] = a.v6Count;
    for (let j = 0; j < a.v4Count; j++) e[o + V4 + j] = a.v4[j]! | 0;
    for (let j = 0; j < a.v6Count; j++) e[o + V6 + j] = a.v6Off[j]! - start;
  }
}
