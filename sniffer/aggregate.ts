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

// DNS entries live in one flat Int32Array, STRIDE ints each, so the per-packet path touches one
// cache line per entry plus one hash-table slot, and allocates nothing.
const CLIENT = 0;
const H1 = 1;
const H2 = 2;
const LEN = 3; // name length; bit 16 set for IPv6 clients (the client field then holds a v6 index)
const COUNT = 4;
const TTL = 5;
const TIME = 6; // ms since #base
const LAST_N = 7;
const LAST = 8; // up to 4 addresses of the previous answer: identical answers skip the Set
const STRIDE = 12;
const V6_FLAG = 1 << 16;

/**
 * A (client, name) pair is identified by the client address and a 64-bit hash of the name (two
 * independent 32-bit lanes) plus its length: with tens of thousands of names per interval a
 * collision is astronomically unlikely, and it saves comparing name bytes on every packet.
 */
export class Aggregator {
  #cap = 1024;
  #n = 0;
  #e = new Int32Array(1024 * STRIDE);
  /** Open-addressing table of entry index + 1 (0 = empty), twice the entry capacity. */
  #table = new Int32Array(2048);
  #names: string[] = [];
  #ips: Array<Set<number> | undefined> = [];
  #v6ips: Array<Set<string> | undefined> = [];
  #v6clients: string[] = [];
  #v6index = new Map<string, number>();
  #base = Number.NaN;
  #tcp = new Map<string, TcpEntry>();

  /** Distinct entries held (DNS + TCP). */
  get size(): number {
    return this.#n + this.#tcp.size;
  }

  #grow(): void {
    const cap = this.#cap * 2;
    const e = new Int32Array(cap * STRIDE);
    e.set(this.#e);
    this.#e = e;
    this.#cap = cap;
    const table = new Int32Array(cap * 2);
    const mask = table.length - 1;
    for (let i = 0; i < this.#n; i++) {
      const o = i * STRIDE;
      let s = this.#slotHash(e[o + CLIENT]!, e[o + H1]!) & mask;
      while (table[s] !== 0) s = (s + 1) & mask;
      table[s] = i + 1;
    }
    this.#table = table;
  }

  #slotHash(client: number, h1: number): number {
    return (h1 ^ Math.imul(client, 0x9e3779b1)) >>> 0;
  }

  /**
   * Adds a decoded answer for `clientV4` (unsigned 32-bit) or, when `clientV6` is given, that
   * IPv6 client. `msg` is the buffer the answer's IPv6 offsets point into.
   */
  addDns(clientV4: number, clientV6: string | undefined, a: DnsAnswer, msg: Buffer, time: number): void {
    let client = clientV4 | 0;
    let len = a.nameLen;
    if (clientV6 !== undefined) {
      let v = this.#v6index.get(clientV6);
      if (v === undefined) {
        v = this.#v6clients.length;
        this.#v6clients.push(clientV6);
        this.#v6index.set(clientV6, v);
      }
      client = v;
      len |= V6_FLAG;
    }
    const h1 = a.nameHash;
    const h2 = a.nameHash2;
    if (Number.isNaN(this.#base) || time - this.#base > 2 ** 30 || time < this.#base) this.#rebase(time);
    const t = Math.floor(time - this.#base);
    const e = this.#e;
    const table = this.#table;
    const mask = table.length - 1;
    let s = this.#slotHash(client, h1) & mask;
    let o = -1;
    for (;;) {
      const idx = table[s]!;
      if (idx === 0) break;
      const q = (idx - 1) * STRIDE;
      if (e[q + CLIENT] === client && e[q + H1] === h1 && e[q + H2] === h2 && e[q + LEN] === len) {
        o = q;
        break;
      }
      s = (s + 1) & mask;
    }
    if (o < 0) {
      if (this.#n >= this.#cap) {
        this.#grow();
        this.addDns(clientV4, clientV6, a, msg, time);
        return;
      }
      const i = this.#n++;
      table[s] = i + 1;
      o = i * STRIDE;
      e[o + CLIENT] = client;
      e[o + H1] = h1;
      e[o + H2] = h2;
      e[o + LEN] = len;
      e[o + COUNT] = 0;
      e[o + TTL] = -1;
      e[o + TIME] = t;
      e[o + LAST_N] = -1;
      this.#names[i] = answerName(a);
      this.#ips[i] = undefined;
      this.#v6ips[i] = undefined;
    }
    const ee = this.#e;
    ee[o + COUNT]!++;
    if (t > ee[o + TIME]!) ee[o + TIME] = t;
    const ttl = Math.min(a.ttl, 0x7fffffff);
    if (ttl >= 0 && (ee[o + TTL]! < 0 || ttl < ee[o + TTL]!)) ee[o + TTL] = ttl;
    const n = a.v4Count;
    if (n > 0) {
      let same = n === ee[o + LAST_N];
      for (let i = 0; same && i < n; i++) same = ee[o + LAST + i] === (a.v4[i]! | 0);
      if (!same) {
        const idx = o / STRIDE;
        let set = this.#ips[idx];
        if (set === undefined) {
          set = new Set();
          this.#ips[idx] = set;
        }
        for (let i = 0; i < n && set.size < MAX_IPS; i++) set.add(a.v4[i]! | 0);
        if (n <= 4) {
          for (let i = 0; i < n; i++) ee[o + LAST + i] = a.v4[i]! | 0;
          ee[o + LAST_N] = n;
        } else ee[o + LAST_N] = -1;
      }
    }
    if (a.v6Count > 0) {
      const idx = o / STRIDE;
      let set = this.#v6ips[idx];
      if (set === undefined) {
        set = new Set();
        this.#v6ips[idx] = set;
      }
      const v4n = this.#ips[idx]?.size ?? 0;
      for (let i = 0; i < a.v6Count && v4n + set.size < MAX_IPS; i++) set.add(formatIpv6(msg, a.v6Off[i]!));
    }
  }

  /** Moves the time base (entries keep absolute times correct). */
  #rebase(time: number): void {
    const old = this.#base;
    this.#base = time;
    if (Number.isNaN(old)) return;
    for (let i = 0; i < this.#n; i++) {
      const o = i * STRIDE + TIME;
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

  /** Returns everything aggregated since the last drain, and starts afresh. */
  drain(): Observation[] {
    const out: Observation[] = [];
    const e = this.#e;
    for (let i = 0; i < this.#n; i++) {
      const o = i * STRIDE;
      const ips: string[] = [];
      const set = this.#ips[i];
      if (set) for (const v of set) ips.push(formatIpv4(v >>> 0));
      const v6 = this.#v6ips[i];
      if (v6) for (const x of v6) if (ips.length < MAX_IPS) ips.push(x);
      const len = e[o + LEN]!;
      const obs: DnsObservation = {
        kind: 'dns',
        clientIp: len & V6_FLAG ? this.#v6clients[e[o + CLIENT]!]! : formatIpv4(e[o + CLIENT]! >>> 0),
        name: this.#names[i]!,
        ips,
        time: Math.floor(this.#base + e[o + TIME]!),
        count: e[o + COUNT]!,
      };
      if (e[o + TTL]! >= 0) obs.ttl = e[o + TTL]!;
      out.push(obs);
    }
    for (const t of this.#tcp.values()) out.push(t.obs);
    this.#n = 0;
    this.#table.fill(0);
    this.#names = [];
    this.#ips = [];
    this.#v6ips = [];
    this.#v6clients = [];
    this.#v6index.clear();
    this.#tcp.clear();
    return out;
  }
}
