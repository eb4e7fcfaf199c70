import test from 'ava';
import fc from 'fast-check';
import { parseObservation } from '../../../mapper/contract/index.ts';
import { decodeDnsResponse, newDnsAnswer } from '../../../sniffer/decode/dns.ts';
import { buildDnsResponse, buildTcpSyn, LINK_TYPE_OF, type Link } from '../../../sniffer/index.ts';
import { PacketProcessor } from '../../../sniffer/processor.ts';

const T0 = Date.UTC(2026, 0, 1);
const linkArb = fc.constantFrom<Link>('ethernet', 'sll', 'sll2', 'raw');
const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const nameArb = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((x) => x.join('.'));

const validPacket = fc.oneof(
  fc
    .record({
      link: linkArb,
      name: nameArb,
      client: v4,
      cname: fc.option(nameArb, { nil: undefined }),
      ips: fc.array(v4, { maxLength: 4 }),
      tcp: fc.boolean(),
      compress: fc.boolean(),
    })
    .map((r) => ({
      link: r.link,
      data: buildDnsResponse({
        clientIp: r.client,
        name: r.name,
        link: r.link,
        transport: r.tcp ? 'tcp' : 'udp',
        compress: r.compress,
        answers: [
          ...(r.cname ? [{ type: 'CNAME' as const, value: r.cname }] : []),
          ...r.ips.map((ip) => ({ type: 'A' as const, value: ip })),
        ],
      }),
    })),
  fc.record({ link: linkArb, c: v4, s: v4, port: fc.integer({ min: 1, max: 65535 }), ack: fc.boolean() }).map((r) => ({
    link: r.link,
    data: buildTcpSyn({ clientIp: r.c, serverIp: r.s, serverPort: r.port, synAck: r.ack, link: r.link }),
  })),
);

/** Every observation the processor produces must pass the wire contract. */
function checkAll(proc: PacketProcessor): void {
  for (const o of proc.drain()) parseObservation(o);
}

test('valid packets always decode into contract-valid observations', (t) => {
  fc.assert(
    fc.property(validPacket, ({ link, data }) => {
      const proc = new PacketProcessor();
      proc.handle(data, 0, data.length, LINK_TYPE_OF[link], T0);
      checkAll(proc);
      return proc.stats.decoded === 1 && proc.stats.malformed === 0;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('mutated valid packets (byte flips, truncation, splices) never crash and stay contract-valid', (t) => {
  const mutation = fc.record({
    flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 8 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 })), { nil: undefined }),
  });
  fc.assert(
    fc.property(validPacket, mutation, ({ link, data }, m) => {
      let d = Buffer.from(data);
      for (const [pos, v] of m.flips) d[pos % d.length] = v;
      if (m.insert) {
        const at = m.insert[0] % d.length;
        d = Buffer.concat([d.subarray(0, at), Buffer.from(m.insert[1]), d.subarray(at)]);
      }
      if (m.cut !== undefined) d = d.subarray(0, m.cut % (d.length + 1));
      const proc = new PacketProcessor();
      proc.handle(d, 0, d.length, LINK_TYPE_OF[link], T0);
      checkAll(proc);
      const s = proc.stats;
      return s.seen === 1 && s.decoded + s.malformed + s.ignored + s.duplicates === 1;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('random bytes on every link type never crash', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.constantFrom(0, 1, 101, 108, 113, 276, 228, 229, 7),
      (bytes, lt) => {
        const proc = new PacketProcessor();
        const b = Buffer.from(bytes);
        proc.handle(b, 0, b.length, lt, T0);
        checkAll(proc);
        return proc.stats.seen === 1;
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test('random DNS-shaped messages: pointer soup never loops or crashes', (t) => {
  const a = newDnsAnswer();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(4), fc.nat(8), (body, qd, an) => {
      const head = Buffer.from([0, 1, 0x81, 0x80, 0, qd, 0, an, 0, 0, 0, 0]);
      // bias towards compression pointers
      const b = Buffer.from(body.map((x, i) => (i % 5 === 0 ? 0xc0 | (x & 1) : x)));
      const m = Buffer.concat([head, b]);
      const st = decodeDnsResponse(m, 0, m.length, a);
      return st >= 0 && st <= 2 && a.v4Count <= 256;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});
