/**
 * The packet path shared by live capture and pcap replay: frame decode → duplicate suppression →
 * DNS / SYN decode → aggregation, with counters for everything skipped. Synchronous, no I/O.
 */
import type { Observation } from '../mapper/contract/index.ts';
import { Aggregator } from './aggregate.ts';
import { DNS_MALFORMED, DNS_OK, decodeDnsResponse, newDnsAnswer } from './decode/dns.ts';
import { DnsMemo } from './decode/dns-memo.ts';
import {
  decodeFrame,
  FRAME_IGNORED,
  FRAME_MALFORMED,
  type Frame,
  newFrame,
  PROTO_TCP,
  PROTO_UDP,
} from './decode/frame.ts';
import { formatIpv4, formatIpv6 } from './decode/ip.ts';
import { Deduper, hashWords } from './dedupe.ts';

export interface PacketStats {
  /** Packets handed to the processor. */
  seen: number;
  /** Packets that yielded a DNS answer or a TCP connection. */
  decoded: number;
  /** Packets that could not be decoded (truncated, bad pointers, non-DNS on port 53, …). */
  malformed: number;
  /** Well-formed packets of no interest (queries, NXDOMAIN, plain TCP data, ARP, …). */
  ignored: number;
  /** Packets suppressed as copies seen within the dedupe window. */
  duplicates: number;
  dnsAnswers: number;
  tcpConnections: number;
}

export const newPacketStats = (): PacketStats => ({
  seen: 0,
  decoded: 0,
  malformed: 0,
  ignored: 0,
  duplicates: 0,
  dnsAnswers: 0,
  tcpConnections: 0,
});

export interface ProcessorOptions {
  /** Duplicate window in ms (default 1000). */
  dedupeWindowMs?: number;
  /** Distinct aggregated entries after which `onFull` is called (default 20 000). */
  maxEntries?: number;
  /** Called (synchronously) when the aggregator reaches `maxEntries`; usually drains it. */
  onFull?: () => void;
  /** Reuse the decode of a DNS message seen before byte for byte, ID aside (default true; false: decode every message). */
  dnsMemo?: boolean;
}

const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

export class PacketProcessor {
  readonly stats: PacketStats = newPacketStats();
  readonly #frame: Frame = newFrame();
  readonly #answer = newDnsAnswer();
  readonly #agg = new Aggregator();
  readonly #dedupe: Deduper;
  readonly #maxEntries: number;
  readonly #onFull: (() => void) | undefined;
  readonly #memo: DnsMemo | undefined;

  constructor(opts: ProcessorOptions = {}) {
    this.#dedupe = new Deduper(opts.dedupeWindowMs ?? 1000);
    this.#memo = opts.dnsMemo === false ? undefined : new DnsMemo();
    this.#maxEntries = opts.maxEntries ?? 20_000;
    this.#onFull = opts.onFull;
  }

  /**
   * Times below the processor are integer ms since `#base` (small integers stay unboxed in V8,
   * which measurably speeds up the per-packet path); drain() adds the base back.
   */
  #base = Number.NaN;
  /** Observations drained early because time moved more than 2^30 ms away from the base. */
  #carry: Observation[] = [];

  #relative(time: number): number {
    let t = Math.floor(time) - this.#base;
    if (!(t >= 0 && t < 0x40000000)) {
      // first packet, or ~11 days past the base (or a day before it): start a new base, in whole
      // seconds and a day early so slightly out-of-order timestamps stay non-negative
      if (!Number.isNaN(this.#base)) for (const o of this.#drainRelative()) this.#carry.push(o);
      this.#baseSec = Math.floor(time / 1000) - 86_400;
      this.#base = this.#baseSec * 1000;
      t = Math.floor(time) - this.#base;
    }
    return t | 0;
  }

  #baseSec = 0;

  /**
   * As `handle`, with the capture time split into whole seconds and milliseconds (what the pcap
   * reader delivers): the common path stays in small integers.
   */
  handleAt(buf: Buffer, off: number, len: number, linkType: number, sec: number, ms: number): void {
    const ds = sec - this.#baseSec;
    if (ds >= 0 && ds < 1_000_000 && !Number.isNaN(this.#base))
      this.#handleRel(buf, off, len, linkType, (ds * 1000 + ms) | 0);
    else this.#handleRel(buf, off, len, linkType, this.#relative(sec * 1000 + ms));
  }

  /** Processes one packet `buf[off, off + len)` of link type `linkType` captured at `time` (ms). */
  handle(buf: Buffer, off: number, len: number, linkType: number, absTime: number): void {
    this.#handleRel(buf, off, len, linkType, this.#relative(absTime));
  }

  #handleRel(buf: Buffer, off: number, len: number, linkType: number, time: number): void {
    const s = this.stats;
    s.seen++;
    const f = this.#frame;
    const st = decodeFrame(buf, off, len, linkType, f);
    if (st === FRAME_MALFORMED) {
      s.malformed++;
      return;
    }
    if (st === FRAME_IGNORED) {
      s.ignored++;
      return;
    }
    const ipLen = f.family === 4 ? 4 : 16;
    if (f.proto === PROTO_UDP) {
      if (f.srcPort !== 53) {
        s.ignored++;
        return;
      }
      if (this.#isDuplicateDns(buf, f, ipLen, f.payloadOff, f.payloadEnd, time)) return;
      this.#dns(buf, f.payloadOff, f.payloadEnd, time, true);
      return;
    }
    if (f.proto !== PROTO_TCP) {
      s.ignored++;
      return;
    }
    const flags = f.tcpFlags;
    if ((flags & SYN) !== 0) {
      if ((flags & RST) !== 0 || (flags & 0x01) !== 0) {
        s.malformed++; // SYN+RST / SYN+FIN: scans and garbage, never a connection
        return;
      }
      const synAck = (flags & ACK) !== 0;
      const cOff = synAck ? f.dstOff : f.srcOff;
      const sOff = synAck ? f.srcOff : f.dstOff;
      const cPort = synAck ? f.dstPort : f.srcPort;
      const sPort = synAck ? f.srcPort : f.dstPort;
      if (sPort === 0) {
        s.malformed++;
        return;
      }
      // lane a: both addresses hashed by 32-bit words; lane b: the two ports exactly
      const ka = hashWords(buf, sOff, ipLen, hashWords(buf, cOff, ipLen, 0x54));
      if (this.#dedupe.seen(ka, (cPort << 16) | sPort, time)) {
        s.duplicates++;
        return;
      }
      const c = ipLen === 4 ? formatIpv4(buf.readUInt32BE(cOff)) : formatIpv6(buf, cOff);
      const srv = ipLen === 4 ? formatIpv4(buf.readUInt32BE(sOff)) : formatIpv6(buf, sOff);
      this.#agg.addTcp(c, srv, sPort, 'capture', time);
      s.tcpConnections++;
      s.decoded++;
      this.#checkFull();
      return;
    }
    if (f.srcPort === 53 && f.payloadEnd > f.payloadOff) {
      // DNS over TCP: whole messages (2-byte length prefix) contained in this segment.
      let q = f.payloadOff;
      const end = f.payloadEnd;
      if (q + 4 > end) {
        s.ignored++;
        return;
      }
      if (this.#isDuplicateDns(buf, f, ipLen, q + 2, end, time)) return;
      let decodedAny = false;
      for (let i = 0; i < 64 && q + 2 <= end; i++) {
        const mlen = (buf[q]! << 8) | buf[q + 1]!;
        if (q + 2 + mlen > end) break; // continues in a later segment: not decoded (cheap path only)
        decodedAny = this.#dns(buf, q + 2, q + 2 + mlen, time, i === 0) || decodedAny;
        q += 2 + mlen;
      }
      if (!decodedAny && q === f.payloadOff) s.ignored++;
      return;
    }
    s.ignored++;
  }

  #isDuplicateDns(buf: Buffer, f: Frame, ipLen: number, msg: number, end: number, time: number): boolean {
    if (end - msg < 2) return false;
    // IPv4: the key is exact (client address; client port and DNS id); IPv6 hashes the address.
    const d = f.dstOff;
    const ka =
      ipLen === 4
        ? (buf[d]! << 24) | (buf[d + 1]! << 16) | (buf[d + 2]! << 8) | buf[d + 3]!
        : hashWords(buf, d, 16, 0x44);
    const kb = (f.dstPort << 16) | (buf[msg]! << 8) | buf[msg + 1]!;
    if (this.#dedupe.seen(ka ^ 0x44, kb, time)) {
      this.stats.duplicates++;
      return true;
    }
    return false;
  }

  /** Decodes one DNS message; counts the packet once (`countPacket`). Returns true on an answer. */
  #dns(buf: Buffer, start: number, end: number, time: number, countPacket: boolean): boolean {
    const s = this.stats;
    const a = this.#answer;
    const memo = this.#memo;
    let st: number;
    if (memo === undefined || !memo.worthIt()) st = decodeDnsResponse(buf, start, end, a);
    else if (memo.lookup(buf, start, end, a)) st = DNS_OK;
    else {
      st = decodeDnsResponse(buf, start, end, a);
      memo.store(a, st);
    }
    if (st === DNS_OK) {
      const f = this.#frame;
      if (f.family === 4) {
        const d = f.dstOff;
        this.#agg.addDns(
          (buf[d]! << 24) | (buf[d + 1]! << 16) | (buf[d + 2]! << 8) | buf[d + 3]!,
          undefined,
          a,
          buf,
          time,
        );
      } else this.#agg.addDns(0, formatIpv6(buf, f.dstOff), a, buf, time);
      s.dnsAnswers++;
      if (countPacket) s.decoded++;
      this.#checkFull();
      return true;
    }
    if (countPacket) {
      if (st === DNS_MALFORMED) s.malformed++;
      else s.ignored++;
    }
    return false;
  }

  #checkFull(): void {
    if (this.#onFull !== undefined && this.#agg.size >= this.#maxEntries) this.#onFull();
  }

  #drainRelative(): Observation[] {
    return this.#agg.drain(this.#base);
  }

  /** Aggregated observations since the last drain (counts per distinct pair). */
  drain(): Observation[] {
    const out = this.#drainRelative();
    if (this.#carry.length === 0) return out;
    const all = this.#carry.concat(out);
    this.#carry = [];
    return all;
  }

  /** Adds a socket-scan connection (already filtered) to the aggregation. */
  addSocket(clientIp: string, serverIp: string, serverPort: number, absTime: number): void {
    this.#agg.addTcp(clientIp, serverIp, serverPort, 'socket-scan', this.#relative(absTime));
    this.#checkFull();
  }

  get pending(): number {
    return this.#agg.size + this.#carry.length;
  }
}
