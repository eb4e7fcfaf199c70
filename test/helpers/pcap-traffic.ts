/**
 * Deterministic DNS/TCP traffic for sniffer tests and benchmarks, built with the sniffer's public
 * packet builders. Large captures reuse a few hundred templates and patch DNS id and client port
 * (UDP checksum zeroed, which IPv4 allows), so a million packets take about a second.
 */
import { buildDnsResponse, buildTcpSyn, createPcapWriter, type Link, type PcapPacket } from '../../sniffer/index.ts';

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TrafficSpec {
  packets: number;
  seed?: number;
  clients?: number;
  names?: number;
  link?: Link;
  /** Start time, ms. */
  start?: number;
  /** Packets per second of capture time (default 2000). */
  rate?: number;
}

export interface Template {
  data: Buffer;
  /** Offsets to patch: DNS id and UDP destination (client) port, UDP checksum. */
  idOff: number;
  portOff: number;
  csumOff: number;
  client: string;
  name: string;
}

const LINK_HEADER: Record<Link, number> = { ethernet: 14, sll: 16, sll2: 20, raw: 0 };

/** DNS response templates: plain A, CNAME → A chains and AAAA, for `clients` × `names` pairs. */
export function dnsTemplates(clients: number, names: number, link: Link = 'ethernet'): Template[] {
  const out: Template[] = [];
  for (let c = 0; c < clients; c++) {
    const client = `10.244.${(c >> 8) & 255}.${(c & 255) + 1}`;
    for (let n = 0; n < names; n++) {
      const name = `svc-${n}.ns-${n % 7}.svc.cluster.local`;
      const kind = n % 5;
      const answers =
        kind === 3
          ? [
              { type: 'CNAME' as const, value: `real-${n}.ns-${n % 7}.svc.cluster.local`, ttl: 30 },
              { type: 'A' as const, value: `10.96.${n >> 8}.${n & 255}`, ttl: 5 },
            ]
          : kind === 4
            ? [
                { type: 'A' as const, value: `10.96.${n >> 8}.${n & 255}` },
                { type: 'A' as const, value: `10.97.${n >> 8}.${n & 255}` },
              ]
            : [{ type: 'A' as const, value: `10.96.${n >> 8}.${n & 255}` }];
      const data = buildDnsResponse({ clientIp: client, name, answers, link });
      const ip = LINK_HEADER[link];
      const udp = ip + 20;
      data.writeUInt16BE(0, udp + 6);
      out.push({ data, idOff: udp + 8, portOff: udp + 2, csumOff: udp + 6, client, name });
    }
  }
  return out;
}

/** Streams `spec.packets` DNS responses (distinct id/port each) into a classic pcap at `path`. */
export function writeDnsPcap(path: string, spec: TrafficSpec): { pairs: number } {
  const link = spec.link ?? 'ethernet';
  const rnd = prng(spec.seed ?? 1);
  const templates = dnsTemplates(spec.clients ?? 100, spec.names ?? 20, link);
  const w = createPcapWriter(path, { linkType: { ethernet: 1, sll: 113, sll2: 276, raw: 101 }[link] });
  const start = spec.start ?? Date.UTC(2026, 0, 1);
  const step = 1000 / (spec.rate ?? 2000);
  const used = new Set<number>();
  try {
    for (let i = 0; i < spec.packets; i++) {
      const ti = Math.floor(rnd() * templates.length);
      used.add(ti);
      const t = templates[ti]!;
      const data = Buffer.from(t.data);
      data.writeUInt16BE(i & 0xffff, t.idOff);
      data.writeUInt16BE(1024 + (i % 60000), t.portOff);
      w.write({ data, time: start + i * step });
    }
  } finally {
    w.close();
  }
  return { pairs: used.size };
}

/** A small mixed capture: DNS (A, CNAME chain, AAAA over TCP) and SYN/SYN-ACK pairs, with duplicates. */
export function mixedPackets(start = Date.UTC(2026, 0, 1)): PcapPacket[] {
  const p: Buffer[] = [
    buildDnsResponse({
      clientIp: '10.244.1.5',
      id: 1,
      name: 'web.default.svc.cluster.local',
      answers: [{ type: 'A', value: '10.96.0.20' }],
    }),
    buildDnsResponse({
      clientIp: '10.244.1.6',
      id: 2,
      name: 'api',
      answers: [
        { type: 'CNAME', value: 'api.prod.svc.cluster.local', ttl: 60 },
        { type: 'A', value: '10.96.0.30', ttl: 7 },
      ],
    }),
    buildDnsResponse({
      clientIp: 'fd00::6',
      serverIp: 'fd00::a',
      id: 3,
      name: 'db.data.svc.cluster.local',
      qtype: 'AAAA',
      answers: [{ type: 'AAAA', value: 'fd00:96::40' }],
      transport: 'tcp',
    }),
    buildTcpSyn({ clientIp: '10.244.1.5', serverIp: '10.96.0.20', clientPort: 40001, serverPort: 80 }),
    buildTcpSyn({ clientIp: '10.244.1.5', serverIp: '10.96.0.20', clientPort: 40001, serverPort: 80, synAck: true }),
    buildTcpSyn({ clientIp: '10.244.1.6', serverIp: '10.96.0.30', clientPort: 40002, serverPort: 8080 }),
  ];
  const out: PcapPacket[] = p.map((data, i) => ({ data, time: start + i * 10 }));
  // the first DNS answer seen again on a second interface, 1 ms later
  out.push({ data: p[0]!, time: start + 61 });
  return out;
}
