import test from 'ava';
import type { DnsObservation, Observation, TcpObservation } from '../../../mapper/contract/index.ts';
import { parseObservation } from '../../../mapper/contract/index.ts';
import { decodeFrame, FRAME_IGNORED, FRAME_MALFORMED, FRAME_OK, newFrame } from '../../../sniffer/decode/frame.ts';
import { formatIpv6, parseIp } from '../../../sniffer/decode/ip.ts';
import { Deduper } from '../../../sniffer/dedupe.ts';
import { buildDnsResponse, buildTcpSyn, LINK_TYPE_OF, LINKS } from '../../../sniffer/index.ts';
import { PacketProcessor } from '../../../sniffer/processor.ts';
import { mixedPackets } from '../../helpers/pcap-traffic.ts';

const T0 = Date.UTC(2026, 0, 1);

function run(packets: Array<{ data: Buffer; time: number; lt?: number }>): {
  proc: PacketProcessor;
  obs: Observation[];
} {
  const proc = new PacketProcessor();
  for (const p of packets) proc.handle(p.data, 0, p.data.length, p.lt ?? 1, p.time);
  return { proc, obs: proc.drain() };
}

test('every link type decodes DNS over IPv4 and IPv6', (t) => {
  for (const link of LINKS) {
    for (const [client, server] of [
      ['10.244.0.9', '10.96.0.10'],
      ['fd00::9', 'fd00::a'],
    ] as const) {
      const data = buildDnsResponse({
        clientIp: client,
        serverIp: server,
        name: 'x.svc',
        answers: [{ type: 'A', value: '10.1.2.3' }],
        link,
      });
      const { obs } = run([{ data, time: T0, lt: LINK_TYPE_OF[link] }]);
      t.is(obs.length, 1, `${link} ${client}`);
      const o = obs[0] as DnsObservation;
      t.is(o.clientIp, client);
      t.deepEqual(o.ips, ['10.1.2.3']);
    }
  }
});

test('BSD loopback and VLAN-tagged Ethernet frames', (t) => {
  const raw = buildDnsResponse({
    clientIp: '10.0.0.1',
    name: 'a.b',
    answers: [{ type: 'A', value: '1.1.1.1' }],
    link: 'raw',
  });
  const nullLe = Buffer.concat([Buffer.from([2, 0, 0, 0]), raw]);
  const loopBe = Buffer.concat([Buffer.from([0, 0, 0, 2]), raw]);
  const eth = buildDnsResponse({ clientIp: '10.0.0.1', name: 'a.b', answers: [{ type: 'A', value: '1.1.1.1' }] });
  const vlan = Buffer.concat([eth.subarray(0, 12), Buffer.from([0x81, 0, 0, 5]), eth.subarray(12)]);
  const f = newFrame();
  t.is(decodeFrame(nullLe, 0, nullLe.length, 0, f), FRAME_OK);
  t.is(decodeFrame(loopBe, 0, loopBe.length, 108, f), FRAME_OK);
  t.is(decodeFrame(vlan, 0, vlan.length, 1, f), FRAME_OK);
  t.is(f.srcPort, 53);
  t.is(decodeFrame(vlan, 0, vlan.length, 9999, f), FRAME_IGNORED);
  const arp = Buffer.alloc(42);
  arp.writeUInt16BE(0x0806, 12);
  t.is(decodeFrame(arp, 0, arp.length, 1, f), FRAME_IGNORED);
});

test('truncated frames at every length never crash and never decode', (t) => {
  const data = buildDnsResponse({
    clientIp: 'fd00::1',
    name: 'a.b',
    qtype: 'AAAA',
    answers: [{ type: 'AAAA', value: 'fd00::2' }],
  });
  const proc = new PacketProcessor();
  for (let n = 0; n < data.length; n++) proc.handle(data, 0, n, 1, T0 + n * 5000);
  t.is(proc.stats.dnsAnswers, 0);
  t.is(proc.stats.seen, data.length);
  t.true(proc.stats.malformed > 0);
  t.is(proc.stats.malformed + proc.stats.ignored, data.length);
});

test('IPv4 fragments are ignored', (t) => {
  const data = buildDnsResponse({ clientIp: '10.0.0.1', name: 'a.b', answers: [] });
  data.writeUInt16BE(0x2000, 14 + 6); // MF
  t.is(decodeFrame(data, 0, data.length, 1, newFrame()), FRAME_IGNORED);
  data[14] = 0x35; // IHL 5, version 3
  t.is(decodeFrame(data, 0, data.length, 1, newFrame()), FRAME_MALFORMED);
});

test('mixed capture: duplicates suppressed, SYN and SYN-ACK are one connection, TCP DNS decoded', (t) => {
  const { proc, obs } = run(mixedPackets(T0));
  t.is(proc.stats.seen, 7);
  t.is(proc.stats.dnsAnswers, 3);
  t.is(proc.stats.tcpConnections, 2);
  t.is(proc.stats.duplicates, 2);
  t.is(proc.stats.malformed, 0);
  for (const o of obs) t.notThrows(() => parseObservation(o));
  const dns = obs.filter((o): o is DnsObservation => o.kind === 'dns').sort((a, b) => a.name.localeCompare(b.name));
  t.deepEqual(
    dns.map((d) => [d.clientIp, d.name, d.ips.join(','), d.count]),
    [
      ['10.244.1.6', 'api', '10.96.0.30', 1],
      ['fd00::6', 'db.data.svc.cluster.local', 'fd00:96::40', 1],
      ['10.244.1.5', 'web.default.svc.cluster.local', '10.96.0.20', 1],
    ],
  );
  t.is(dns[0]?.ttl, 7);
  const tcp = obs.filter((o): o is TcpObservation => o.kind === 'tcp').sort((a, b) => a.serverPort - b.serverPort);
  t.deepEqual(
    tcp.map((o) => [o.clientIp, o.serverIp, o.serverPort, o.source, o.count]),
    [
      ['10.244.1.5', '10.96.0.20', 80, 'capture', 1],
      ['10.244.1.6', '10.96.0.30', 8080, 'capture', 1],
    ],
  );
});

test('a SYN-ACK alone still yields client → server', (t) => {
  const data = buildTcpSyn({ clientIp: '10.244.2.2', serverIp: '10.96.5.5', serverPort: 5432, synAck: true });
  const { obs } = run([{ data, time: T0 }]);
  t.like(obs[0], { kind: 'tcp', clientIp: '10.244.2.2', serverIp: '10.96.5.5', serverPort: 5432 });
});

test('aggregation: many packets for one pair become one observation with a count; addresses merge', (t) => {
  const packets = [];
  for (let i = 0; i < 50; i++) {
    packets.push({
      data: buildDnsResponse({
        clientIp: '10.244.1.1',
        clientPort: 1000 + i,
        id: i,
        name: 'web',
        answers: [{ type: 'A', value: i % 2 ? '10.96.0.1' : '10.96.0.2', ttl: 100 - i }],
      }),
      time: T0 + i,
    });
  }
  const { obs } = run(packets);
  t.is(obs.length, 1);
  const o = obs[0] as DnsObservation;
  t.is(o.count, 50);
  t.deepEqual([...o.ips].sort(), ['10.96.0.1', '10.96.0.2']);
  t.is(o.ttl, 51);
  t.is(o.time, T0 + 49);
});

test('the same DNS answer outside the dedupe window counts again', (t) => {
  const data = buildDnsResponse({ clientIp: '10.0.0.1', name: 'a.b', answers: [] });
  const { proc, obs } = run([
    { data, time: T0 },
    { data, time: T0 + 5 },
    { data, time: T0 + 10_000 },
  ]);
  t.is(proc.stats.duplicates, 1);
  t.is((obs[0] as DnsObservation).count, 2);
});

test('SYN+RST and SYN to port 0 are malformed', (t) => {
  const syn = buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 80 });
  syn[14 + 20 + 13] = 0x06;
  const { proc } = run([{ data: syn, time: T0 }]);
  t.is(proc.stats.malformed, 1);
});

test('onFull drains the aggregator when it reaches maxEntries', (t) => {
  let drained = 0;
  const proc: PacketProcessor = new PacketProcessor({ maxEntries: 10, onFull: () => (drained += proc.drain().length) });
  for (let i = 0; i < 35; i++) {
    const d = buildTcpSyn({ clientIp: `10.0.0.${i + 1}`, serverIp: '10.0.1.1', serverPort: 80 });
    proc.handle(d, 0, d.length, 1, T0);
  }
  t.is(drained, 30);
  t.is(proc.pending, 5);
});

test('Deduper: window, expiry, distinct keys, and floods overwrite the oldest', (t) => {
  const d = new Deduper(100);
  t.false(d.seen(1, 2, 0));
  t.true(d.seen(1, 2, 50));
  t.false(d.seen(1, 3, 50));
  t.false(d.seen(2, 2, 50));
  t.true(d.seen(1, 2, 140)); // refreshed at 50
  t.false(d.seen(1, 2, 400)); // expired
  const small = new Deduper(1000, 1);
  for (let i = 0; i < 5000; i++) small.seen(i, i, i / 10);
  t.true(small.seen(4999, 4999, 500)); // the newest survives the flood
});

test('IPv6 text is RFC 5952 and parseIp round-trips', (t) => {
  for (const s of [
    '2001:db8::1',
    '::1',
    '::',
    'fd00:10:96::a',
    '1:2:3:4:5:6:7:8',
    '2001:db8:0:1:1:1:1:1',
    '::ffff:10.1.2.3',
  ]) {
    t.is(formatIpv6(parseIp(s), 0), s);
  }
  t.throws(() => parseIp('300.1.1.1'), { message: /not an IPv4 or IPv6/ });
  t.throws(() => parseIp('1::2::3'));
});

test('times far apart (beyond the relative-time range) keep their absolute values', (t) => {
  const a = buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 80 });
  const b = buildTcpSyn({ clientIp: '10.0.0.3', serverIp: '10.0.0.4', serverPort: 81 });
  const later = T0 + 20 * 86_400_000;
  const { obs } = run([
    { data: a, time: T0 + 0.7 },
    { data: b, time: later },
    { data: a, time: later + 5000 },
  ]);
  t.deepEqual(
    obs.map((o) => [(o as TcpObservation).serverPort, o.time, o.count]).sort(),
    [
      [80, T0, 1],
      [80, later + 5000, 1],
      [81, later, 1],
    ].sort(),
  );
  const proc = new PacketProcessor();
  proc.addSocket('10.0.0.9', '10.0.0.8', 443, T0);
  t.like(proc.drain()[0], { source: 'socket-scan', time: T0 });
});

test('aggregation table grows: thousands of distinct pairs, each counted exactly, across drains', (t) => {
  const proc = new PacketProcessor({ maxEntries: 100_000 });
  for (let round = 0; round < 2; round++) {
    let time = T0 + round * 60_000;
    for (let rep = 0; rep < 2; rep++) {
      for (let c = 0; c < 400; c++) {
        for (let n = 0; n < 40; n++) {
          const d = buildDnsResponse({
            clientIp: `10.${1 + (c >> 8)}.${c & 255}.${n % 3}`,
            clientPort: 1000 + rep,
            id: n,
            name: `s${n}.ns.svc`,
            answers: [{ type: 'A', value: `10.96.0.${n}` }],
            link: 'raw',
          });
          proc.handle(d, 0, d.length, 101, time++);
        }
      }
    }
    const obs = proc.drain() as DnsObservation[];
    // 400 clients × 3 last octets share names by n % 3: pairs = 400 × 40, beyond the table's
    // initial 12 288 entries, so it grows
    t.is(obs.length, 16_000, `round ${round}`);
    t.true(
      obs.every((o) => o.count === 2 && o.ips.length === 1 && o.ips[0] === `10.96.0.${o.name.slice(1).split('.')[0]}`),
    );
    t.is(new Set(obs.map((o) => `${o.clientIp} ${o.name}`)).size, 16_000);
  }
});

test('slightly out-of-order timestamps (merged interfaces) aggregate into one entry', (t) => {
  const proc = new PacketProcessor();
  for (let i = 0; i < 20; i++) {
    const d = buildTcpSyn({
      clientIp: '10.0.0.1',
      clientPort: 2000 + i,
      serverIp: '10.0.0.2',
      serverPort: 80,
      link: 'raw',
    });
    const time = T0 + 10_000 + (i % 2 ? -i * 100 : i * 100);
    proc.handleAt(d, 0, d.length, 101, Math.floor(time / 1000), time % 1000);
  }
  const obs = proc.drain();
  t.is(obs.length, 1);
  t.like(obs[0], { count: 20, time: T0 + 10_000 + 1800 });
});
