/**
 * Aggregation between reports: one entry per distinct (client, name) for DNS and per
 * (client, server, port, source) for TCP, whatever the packet rate. Hot-path keys are numbers;
 * strings (IP text, names) are made once per distinct entry, not per packet.
 */
import type { DnsObservation, Observation, TcpObservation, TcpSource } from '../mapper/contract/index.ts';
import { answerName, type DnsAnswer, MAX_IPS } from './decode/dns.ts';
import { formatIpv4, formatIpv6 } from './decode/ip.ts';

interface NameEntry {
  id: number;
  bytes: Buffer;
  text: string;
  next: NameEntry | undefined;
}

interface DnsEntry {
  client: number | string;
  name: NameEntry;
  v4: Set<number>;
  v6: Set<string> | undefined;
  ttl: number;
  time: number;
  count: number;
}

interface TcpEntry {
  obs: TcpObservation;
}

const NAME_ID_BITS = 2 ** 20;

export class Aggregator {
  #names = new Map<number, NameEntry>();
  #nameCount = 0;
  #dns = new Map<number | string, DnsEntry>();
  #tcp = new Map<string, TcpEntry>();

  /** Distinct entries held (DNS + TCP). */
  get size(): number {
    return this.#dns.size + this.#tcp.size;
  }

  #intern(a: DnsAnswer): NameEntry {
    let e = this.#names.get(a.nameHash);
    for (let x = e; x !== undefined; x = x.next) {
      if (x.bytes.length === a.nameLen && a.name.compare(x.bytes, 0, x.bytes.length, 0, a.nameLen) === 0) return x;
    }
    const bytes = Buffer.from(a.name.subarray(0, a.nameLen));
    e = { id: this.#nameCount++, bytes, text: answerName(a), next: e };
    this.#names.set(a.nameHash, e);
    return e;
  }

  /**
   * Adds a decoded answer for `clientV4` (unsigned 32-bit) or, when `clientV6` is given, that
   * IPv6 client. `msg` is the buffer the answer's IPv6 offsets point into.
   */
  addDns(clientV4: number, clientV6: string | undefined, a: DnsAnswer, msg: Buffer, time: number): void {
    const name = this.#intern(a);
    const key: number | string =
      clientV6 === undefined && name.id < NAME_ID_BITS
        ? clientV4 * NAME_ID_BITS + name.id
        : `${clientV6 ?? clientV4}|${name.id}`;
    let e = this.#dns.get(key);
    if (e === undefined) {
      e = {
        client: clientV6 ?? clientV4,
        name,
        v4: new Set(),
        v6: undefined,
        ttl: a.ttl,
        time,
        count: 0,
      };
      this.#dns.set(key, e);
    }
    e.count++;
    if (time > e.time) e.time = time;
    if (a.ttl >= 0 && (e.ttl < 0 || a.ttl < e.ttl)) e.ttl = a.ttl;
    for (let i = 0; i < a.v4Count && e.v4.size < MAX_IPS; i++) e.v4.add(a.v4[i]!);
    if (a.v6Count > 0) {
      e.v6 ??= new Set();
      for (let i = 0; i < a.v6Count && e.v4.size + e.v6.size < MAX_IPS; i++) e.v6.add(formatIpv6(msg, a.v6Off[i]!));
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
    for (const e of this.#dns.values()) {
      const ips: string[] = [];
      for (const n of e.v4) ips.push(formatIpv4(n));
      if (e.v6) for (const s of e.v6) if (ips.length < MAX_IPS) ips.push(s);
      const obs: DnsObservation = {
        kind: 'dns',
        clientIp: typeof e.client === 'number' ? formatIpv4(e.client) : e.client,
        name: e.name.text,
        ips,
        time: Math.floor(e.time),
        count: e.count,
      };
      if (e.ttl >= 0) obs.ttl = e.ttl;
      out.push(obs);
    }
    for (const e of this.#tcp.values()) out.push(e.obs);
    this.#dns.clear();
    this.#tcp.clear();
    if (this.#nameCount >= NAME_ID_BITS / 2) {
      this.#names.clear();
      this.#nameCount = 0;
    }
    return out;
  }
}
