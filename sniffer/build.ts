/**
 * Packet builders for tests, demos and benchmarks: DNS responses (UDP or TCP, with CNAME chains
 * and name compression) and TCP SYN / SYN-ACK, framed as Ethernet, Linux cooked (SLL/SLL2) or raw
 * IP, over IPv4 or IPv6 (chosen by the address family). Checksums are correct.
 */
import { CallmapError } from '../mapper/contract/index.ts';
import { parseIp } from './decode/ip.ts';

export const LINKS = ['ethernet', 'sll', 'sll2', 'raw'] as const;
export type Link = (typeof LINKS)[number];

/** pcap LINKTYPE for each framing. */
export const LINK_TYPE_OF: Record<Link, number> = { ethernet: 1, sll: 113, sll2: 276, raw: 101 };

export interface DnsRecordSpec {
  type: 'A' | 'AAAA' | 'CNAME';
  /** Owner name; defaults to the end of the chain so far (the question, then each CNAME target). */
  name?: string;
  /** Address for A/AAAA, target name for CNAME. */
  value: string;
  ttl?: number;
}

export interface DnsResponseSpec {
  clientIp: string;
  serverIp?: string;
  clientPort?: number;
  serverPort?: number;
  id?: number;
  /** Question name. */
  name: string;
  qtype?: 'A' | 'AAAA';
  answers?: DnsRecordSpec[];
  /** Response code (0 NOERROR, 3 NXDOMAIN, …). */
  rcode?: number;
  transport?: 'udp' | 'tcp';
  link?: Link;
  /** Use compression pointers for repeated names (default true). */
  compress?: boolean;
}

export interface TcpSynSpec {
  clientIp: string;
  serverIp: string;
  clientPort?: number;
  serverPort: number;
  /** Build the server's SYN-ACK instead of the client's SYN. */
  synAck?: boolean;
  link?: Link;
}

const TYPE_CODE = { A: 1, AAAA: 28, CNAME: 5 } as const;

function encodeName(name: string, table: Map<string, number> | undefined, at: number): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  let off = at;
  for (let i = 0; i < labels.length; i++) {
    const suffix = labels.slice(i).join('.').toLowerCase();
    const ptr = table?.get(suffix);
    if (ptr !== undefined) {
      parts.push(Buffer.from([0xc0 | (ptr >> 8), ptr & 255]));
      return Buffer.concat(parts);
    }
    if (table && off < 0x3fff) table.set(suffix, off);
    const l = Buffer.from(labels[i]!, 'latin1');
    if (l.length > 63) throw new CallmapError('SNIFFER_BUILD', `label longer than 63 bytes in ${name}`);
    parts.push(Buffer.from([l.length]), l);
    off += 1 + l.length;
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The DNS message alone (no transport framing). */
export function buildDnsMessage(spec: DnsResponseSpec): Buffer {
  const table = spec.compress === false ? undefined : new Map<string, number>();
  const answers = spec.answers ?? [];
  const head = Buffer.alloc(12);
  head.writeUInt16BE(spec.id ?? 0x1234, 0);
  head.writeUInt16BE(0x8180 | ((spec.rcode ?? 0) & 15), 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(answers.length, 6);
  const parts: Buffer[] = [head];
  let off = 12;
  const push = (b: Buffer): void => {
    parts.push(b);
    off += b.length;
  };
  push(encodeName(spec.name, table, off));
  const q = Buffer.alloc(4);
  q.writeUInt16BE(TYPE_CODE[spec.qtype ?? 'A'], 0);
  q.writeUInt16BE(1, 2);
  push(q);
  let chainEnd = spec.name;
  for (const r of answers) {
    const owner = r.name ?? chainEnd;
    push(encodeName(owner, table, off));
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(TYPE_CODE[r.type], 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(r.ttl ?? 30, 4);
    let data: Buffer;
    if (r.type === 'CNAME') {
      data = encodeName(r.value, table, off + 10);
      chainEnd = r.value;
    } else {
      data = parseIp(r.value);
      if (data.length !== (r.type === 'A' ? 4 : 16)) {
        throw new CallmapError('SNIFFER_BUILD', `${r.type} record needs an IPv${r.type === 'A' ? 4 : 6} address`);
      }
    }
    fixed.writeUInt16BE(data.length, 8);
    push(fixed);
    push(data);
  }
  return Buffer.concat(parts);
}

function checksum(bufs: Buffer[]): number {
  let sum = 0;
  let odd = -1;
  for (const b of bufs) {
    for (let i = 0; i < b.length; i++) {
      if (odd < 0) odd = b[i]!;
      else {
        sum += (odd << 8) | b[i]!;
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipPacket(src: Buffer, dst: Buffer, proto: number, l4: Buffer, csumAt: number): Buffer {
  if (src.length !== dst.length) throw new CallmapError('SNIFFER_BUILD', 'client and server must both be IPv4 or IPv6');
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  if (src.length === 4) {
    src.copy(pseudo, 0);
    dst.copy(pseudo, 4);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(l4.length, 10);
  } else {
    src.copy(pseudo, 0);
    dst.copy(pseudo, 16);
    pseudo.writeUInt32BE(l4.length, 32);
    pseudo[39] = proto;
  }
  l4.writeUInt16BE(0, csumAt);
  const c = checksum([pseudo, l4]);
  l4.writeUInt16BE(proto === 17 && c === 0 ? 0xffff : c, csumAt);
  if (src.length === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + l4.length, 2);
    h.writeUInt16BE(0x4000, 6); // DF
    h[8] = 64;
    h[9] = proto;
    src.copy(h, 12);
    dst.copy(h, 16);
    h.writeUInt16BE(checksum([h]), 10);
    return Buffer.concat([h, l4]);
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length, 4);
  h[6] = proto;
  h[7] = 64;
  src.copy(h, 8);
  dst.copy(h, 24);
  return Buffer.concat([h, l4]);
}

/** Wraps an IP packet in the chosen link-layer header. */
export function frame(ip: Buffer, link: Link = 'ethernet'): Buffer {
  const v6 = ip[0]! >> 4 === 6;
  const etherType = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case 'raw':
      return ip;
    case 'ethernet': {
      const h = Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0, 0]);
      h.writeUInt16BE(etherType, 12);
      return Buffer.concat([h, ip]);
    }
    case 'sll': {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0); // to us
      h.writeUInt16BE(1, 2); // ARPHRD_ETHER
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etherType, 14);
      return Buffer.concat([h, ip]);
    }
    case 'sll2': {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etherType, 0);
      h.writeUInt32BE(2, 4); // ifindex
      h.writeUInt16BE(1, 8);
      h[10] = 0;
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
  }
}

function tcpSegment(sport: number, dport: number, flags: number, seq: number, ack: number, payload: Buffer): Buffer {
  const t = Buffer.alloc(20 + payload.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t.writeUInt32BE(ack >>> 0, 8);
  t[12] = 5 << 4;
  t[13] = flags;
  t.writeUInt16BE(64240, 14);
  payload.copy(t, 20);
  return t;
}

/** A DNS response from the server to the client, framed for the chosen link type. */
export function buildDnsResponse(spec: DnsResponseSpec): Buffer {
  const msg = buildDnsMessage(spec);
  const client = parseIp(spec.clientIp);
  const server = parseIp(spec.serverIp ?? (client.length === 4 ? '10.96.0.10' : 'fd00:10:96::a'));
  const cport = spec.clientPort ?? 40000;
  const sport = spec.serverPort ?? 53;
  if (spec.transport === 'tcp') {
    const payload = Buffer.alloc(2 + msg.length);
    payload.writeUInt16BE(msg.length, 0);
    msg.copy(payload, 2);
    const seg = tcpSegment(sport, cport, 0x18, 1000, 2000, payload); // PSH+ACK
    return frame(ipPacket(server, client, 6, seg, 16), spec.link);
  }
  const u = Buffer.alloc(8 + msg.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(cport, 2);
  u.writeUInt16BE(u.length, 4);
  msg.copy(u, 8);
  return frame(ipPacket(server, client, 17, u, 6), spec.link);
}

/** A TCP SYN (client → server), or the SYN-ACK (server → client) with `synAck`. */
export function buildTcpSyn(spec: TcpSynSpec): Buffer {
  const client = parseIp(spec.clientIp);
  const server = parseIp(spec.serverIp);
  const cport = spec.clientPort ?? 45000;
  const seg = spec.synAck
    ? tcpSegment(spec.serverPort, cport, 0x12, 5000, 1001, Buffer.alloc(0))
    : tcpSegment(cport, spec.serverPort, 0x02, 1000, 0, Buffer.alloc(0));
  const ip = spec.synAck ? ipPacket(server, client, 6, seg, 16) : ipPacket(client, server, 6, seg, 16);
  return frame(ip, spec.link);
}
