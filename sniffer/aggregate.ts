/**
 * Aggregation between reports: one entry per distinct (client, name) for DNS and per
 * (client, server, port, source) for TCP, whatever the packet rate. Hot-path keys are numbers;
 * strings (IP text, names) are made once per distinct entry, not per packet.
 */
import type { DnsObservation, Observation, TcpObservation, TcpSource } from '../mapper/contract/index.ts';
import { answerName, type DnsAnswer, MAX_IPS } from './decode/dns.ts';
import { formatIpv4, formatIpv6 } from './decode/ip.ts';

interface TcpEntry {
  obs: TcpObservation;
}

// DNS entries live in one flat Int32Array, STRIDE ints (40 bytes) each, which is also the hash
// table, so the per-packet path touches one or two cache lines and allocates nothing.
const CLIENT = 0; // IPv4 address, or an index into #v6clients (then H2 is xored with V6_MARK)
const H1 = 1;
const H2 = 2;
const COUNT = 3;
const TTL = 4;
const TIME = 5; // ms since #base
// 0: no IPv4 address yet; 1-3: the previous answer was exactly LAST[0, LAST_N) (identical answers
// skip the Set; an entry without a Set has only ever seen that list); MANY: another list
const LAST_N = 6;
const LAST = 7;
const LAST_MAX = 3;
const MANY = 7;
const STRIDE = 10;
const V6_MARK = 0x5bd1e995;
/** 12 288 entries before the first growth (640 KiB of entries, paged in as used): a typical node never rehashes. */
const INITIAL_SLOTS = 16_384;

/**
 * A (client, name) pair is identified by the client address and a 64-bit hash of the name (two
 * independent 32-bit lanes, the name length mixed in): with tens of thousands of names per
 * interval a collision is astronomically unlikely, and it saves comparing name bytes on every
 * packet.
 */
export class Aggregator {
  /** Open-addressing table whose slots ARE the entries (STRIDE ints each; used iff COUNT > 0), so
   * a packet touches one cache line; kept at most 3/4 full (small enough to stay in L2). */
  #slots = INITIAL_SLOTS;
  #e = new Int32Array(INITIAL_SLOTS * STRIDE);
  /** Used slots in insertion order (drain order, and what to clear). */
  #order: number[] = [];
  // side arrays indexed by slot: preallocated (holey, not dictionary-mode) at the table's size
  #names = new Array<string>(INITIAL_SLOTS);
  #ips = new Array<Set<number> | undefined>(INITIAL_SLOTS);
  #v6ips = new Array<Set<string> | undefined>(INITIAL_SLOTS);
  /** The IPv6 client's text for entries of IPv6 clients (undefined for IPv4 ones). */
  #v6client = new Array<string | undefined>(INITIAL_SLOTS);
  #v6clients: string[] = [];
  #v6index = new Map<string, number>();
  #base = Number.NaN;
  #tcp = new Map<string, TcpEntry>();

  /** Distinct entries held (DNS + TCP). */
  get size(): number {
    return this.#order.length + this.#tcp.size;
  }

  #slotOf(client: number, h1: number, mask: number): number {
    return ((h1 ^ Math.imul(client, 0x9e3779b1)) >>> 0) & mask;
  }

  #grow(): void {
    const old = this.#e;
    const slots = this.#slots * 2;
    const e = new Int32Array(slots * STRIDE);
    const mask = slots - 1;
    const names = new Array<string>(slots);
    const ips = new Array<Set<number> | undefined>(slots);
    const v6ips = new Array<Set<string> | undefined>(slots);
    const v6client = new Array<string | undefined>(slots);
    const order: number[] = [];
    for (const from of this.#order) {
      const fo = from * STRIDE;
      let to = this.#slotOf(old[fo + CLIENT]!, old[fo + H1]!, mask);
      while (e[to * STRIDE + COUNT] !== 0) to = (to + 1) & mask;
      e.set(old.subarray(fo, fo + STRIDE), to * STRIDE);
      names[to] = this.#names[from]!;
      ips[to] = this.#ips[from];
      v6ips[to] = this.#v6ips[from];
      v6client[to] = this.#v6client[from];
      order.push(to);
    }
    this.#slots = slots;
    this.#e = e;
    this.#names = names;
    this.#ips = ips;
    this.#v6ips = v6ips;
    this.#v6client = v6client;
    this.#order = order;
  }

  /**
   * Adds a decoded answer for `clientV4` (unsigned 32-bit) or, when `clientV6` is given, that
   * IPv6 client. `msg` is the buffer the answer's IPv6 offsets point into.
   */
  addDns(clientV4: number, clientV6: string | undefined, a: DnsAnswer, msg: Buffer, time: number): void {
    let client = clientV4 | 0;
    let h2 = a.nameHash2;
    if (clientV6 !== undefined) {
      let v = this.#v6index.get(clientV6);
      if (v === undefined) {
        v = this.#v6clients.length;
        this.#v6clients.push(clientV6);
        this.#v6index.set(clientV6, v);
      }
      client = v;
      h2 ^= V6_MARK;
    }
    const h1 = a.nameHash;
    if (Number.isNaN(this.#base) || time - this.#base > 2 ** 30 || time < this.#base) this.#rebase(time);
    const t = Math.floor(time - this.#base);
    if (this.#order.length * 4 >= this.#slots * 3) this.#grow();
    const e = this.#e;
    const mask = this.#slots - 1;
    let slot = this.#slotOf(client, h1, mask);
    let o = slot * STRIDE;
    for (;;) {
      if (e[o + COUNT] === 0) {
        // new entry
        e[o + CLIENT] = client;
        e[o + H1] = h1;
        e[o + H2] = h2;
        e[o + TTL] = -1;
        e[o + TIME] = t;
        e[o + LAST_N] = 0;
        this.#names[slot] = answerName(a, msg);
        this.#ips[slot] = undefined;
        this.#v6ips[slot] = undefined;
        this.#v6client[slot] = clientV6;
        this.#order.push(slot);
        break;
      }
      if (e[o + CLIENT] === client && e[o + H1] === h1 && e[o + H2] === h2) break;
      slot = (slot + 1) & mask;
      o = slot * STRIDE;
    }
    e[o + COUNT]!++;
    if (t > e[o + TIME]!) e[o + TIME] = t;
    const ttl = Math.min(a.ttl, 0x7fffffff);
    if (ttl >= 0 && (e[o + TTL]! < 0 || ttl < e[o + TTL]!)) e[o + TTL] = ttl;
    const n = a.v4Count;
    if (n > 0) {
      const lastN = e[o + LAST_N]!;
      let same = n <= LAST_MAX && n === lastN;
      for (let i = 0; same && i < n; i++) same = e[o + LAST + i] === (a.v4[i]! | 0);
      if (!same) {
        let set = this.#ips[slot];
        // Until an entry sees a second, different list, LAST alone holds its addresses; from then
        // on a Set holds every address of the entry.
        if (set !== undefined || lastN !== 0 || n > LAST_MAX) {
          if (set === undefined) {
            set = new Set();
            this.#ips[slot] = set;
            for (let i = 0; i < lastN && i < LAST_MAX; i++) set.add(e[o + LAST + i]!);
          }
          for (let i = 0; i < n && set.size < MAX_IPS; i++) set.add(a.v4[i]! | 0);
        }
        if (n <= LAST_MAX) {
          for (let i = 0; i < n; i++) e[o + LAST + i] = a.v4[i]! | 0;
          e[o + LAST_N] = n;
        } else e[o + LAST_N] = MANY;
      }
    }
    if (a.v6Count > 0) {
      let set = this.#v6ips[slot];
      if (set === undefined) {
        set = new Set();
        this.#v6ips[slot] = set;
      }
      const v4n = this.#ips[slot]?.size ?? Math.min(e[o + LAST_N]!, LAST_MAX);
      for (let i = 0; i < a.v6Count && v4n + set.size < MAX_IPS; i++) set.add(formatIpv6(msg, a.v6Off[i]!));
    }
  }

  /** Moves the time base (entries keep absolute times correct). */
  #rebase(time: number): void {
    const old = this.#base;
    this.#base = time;
    if (Number.isNaN(old)) return;
    for (const slot of this.#order) {
      const o = slot * STRIDE + TIME;
      const abs = old + this.#e[o]!;
      this.#e[o] = Math.max(-(2 ** 31), Math.floor(abs - time));
    }
  }

  addTcp(clientIp: string, serverIp: string, serverPort: number, source: TcpSource, time: number): void {
    const key = `${clientIp} ${serverIp} ${serverPort} ${source}`;
    const e = this.#tcp.get(key);
    if (e === undefined) {
      this.#tcp.set(key, { obs: { kind: 'tcp', clientIp, serverIp, serverPort, source, time, count: 1 } });
      return;
    }
    e.obs.count = (e.obs.count ?? 1) + 1;
    if (time > e.obs.time) e.obs.time = time;
  }

  /**
   * Returns everything aggregated since the last drain, and starts afresh. `timeOffset` (ms) is
   * added to every time: observations are made with their final, absolute times (changing a field
   * from a small integer to a double afterwards costs a hidden-class migration per object).
   */
  drain(timeOffset = 0): Observation[] {
    const out: Observation[] = [];
    const e = this.#e;
    // a few hundred clients and addresses recur across thousands of entries: one string each
    const text = new Map<number, string>();
    const ip4 = (v: number): string => {
      let s = text.get(v);
      if (s === undefined) {
        s = formatIpv4(v >>> 0);
        text.set(v, s);
      }
      return s;
    };
    const base = this.#base + timeOffset;
    for (const slot of this.#order) {
      const o = slot * STRIDE;
      const ips: string[] = [];
      const set = this.#ips[slot];
      if (set) for (const v of set) ips.push(ip4(v));
      else for (let i = 0; i < e[o + LAST_N]! && i < LAST_MAX; i++) ips.push(ip4(e[o + LAST + i]!));
      const v6 = this.#v6ips[slot];
      if (v6) for (const x of v6) if (ips.length < MAX_IPS) ips.push(x);
      const obs: DnsObservation = {
        kind: 'dns',
        clientIp: this.#v6client[slot] ?? ip4(e[o + CLIENT]!),
        name: this.#names[slot]!,
        ips,
        time: Math.floor(base + e[o + TIME]!),
        count: e[o + COUNT]!,
      };
      if (e[o + TTL]! >= 0) obs.ttl = e[o + TTL]!;
      out.push(obs);
      e[o + COUNT] = 0;
    }
    for (const t of this.#tcp.values())
      out.push(timeOffset === 0 ? t.obs : { ...t.obs, time: t.obs.time + timeOffset });
    this.#order = [];
    this.#names = new Array<string>(this.#slots);
    this.#ips = new Array<Set<number> | undefined>(this.#slots);
    this.#v6ips = new Array<Set<string> | undefined>(this.#slots);
    this.#v6client = new Array<string | undefined>(this.#slots);
    this.#v6clients = [];
    this.#v6index.clear();
    this.#tcp.clear();
    return out;
  }
}
