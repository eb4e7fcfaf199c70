/**
 * The DNS decode memo against the plain decoder (the oracle): over repeated, mutated and random
 * messages at random offsets with random IDs, a memo hit must give exactly what decoding gives;
 * and the whole packet path with and without the memo must aggregate the same observations.
 */
import test from 'ava';
import fc from 'fast-check';
import { answerName, DNS_OK, type DnsAnswer, decodeDnsResponse, newDnsAnswer } from '../../../sniffer/decode/dns.ts';
import { DnsMemo } from '../../../sniffer/decode/dns-memo.ts';
import { buildDnsMessage, buildDnsResponse, buildTcpSyn, LINK_TYPE_OF, type Link } from '../../../sniffer/index.ts';
import { PacketProcessor } from '../../../sniffer/processor.ts';
import { dnsTemplates, prng } from '../../helpers/pcap-traffic.ts';

const label = fc.stringMatching(/^[a-zA-Z0-9-]{1,12}$/);
const nameArb = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((x) => x.join('.'));
const v6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'));

const messageArb = fc
  .record({
    name: nameArb,
    cname: fc.option(nameArb, { nil: undefined }),
    a: fc.array(v4, { maxLength: 6 }),
    aaaa: fc.array(v6, { maxLength: 6 }),
    ttl: fc.nat(0xffffffff),
    qtype: fc.constantFrom<'A' | 'AAAA'>('A', 'AAAA'),
    rcode: fc.constantFrom(0, 0, 0, 3),
    compress: fc.boolean(),
  })
  .map((r) =>
    buildDnsMessage({
      clientIp: '10.0.0.1',
      name: r.name,
      qtype: r.qtype,
      rcode: r.rcode,
      compress: r.compress,
      answers: [
        ...(r.cname ? [{ type: 'CNAME' as const, value: r.cname, ttl: r.ttl }] : []),
        ...r.a.map((ip) => ({ type: 'A' as const, value: ip, ttl: r.ttl })),
        ...r.aaaa.map((ip) => ({ type: 'AAAA' as const, value: ip })),
      ],
    }),
  );

/** A pool of messages, some of them copies with a byte changed (or random bytes). */
const poolArb = fc.array(
  fc.oneof(
    messageArb,
    fc.tuple(messageArb, fc.nat(), fc.nat(255)).map(([m, at, v]) => {
      const c = Buffer.from(m);
      c[at % c.length] = v;
      return c;
    }),
    fc.uint8Array({ minLength: 0, maxLength: 80 }).map((u) => Buffer.from(u)),
  ),
  { minLength: 1, maxLength: 6 },
);

/** What decodeDnsResponse reports, as plain data (offsets relative to the message). */
function snapshot(st: number, a: DnsAnswer, buf: Buffer, start: number): unknown {
  if (st !== DNS_OK) return { st };
  return {
    st,
    id: a.id,
    msgStart: a.msgStart - start,
    qOff: a.qOff - start,
    nameLen: a.nameLen,
    nameHash: a.nameHash,
    nameHash2: a.nameHash2,
    qtype: a.qtype,
    ttl: a.ttl,
    v4: [...a.v4.subarray(0, a.v4Count)],
    v6: [...a.v6Off.subarray(0, a.v6Count)].map((o) => buf.toString('hex', o, o + 16)),
    name: answerName(a, buf),
  };
}

test('memo hits give exactly what decoding gives (random, repeated and mutated messages, any offset and ID)', (t) => {
  let hits = 0;
  fc.assert(
    fc.property(
      poolArb,
      fc.array(fc.tuple(fc.nat(), fc.nat(65535), fc.nat(40)), { minLength: 1, maxLength: 30 }),
      (pool, draws) => {
        const memo = new DnsMemo();
        const viaMemo = newDnsAnswer();
        const plain = newDnsAnswer();
        for (const [which, id, pad] of draws) {
          const msg = Buffer.from(pool[which % pool.length]!);
          if (msg.length >= 2) msg.writeUInt16BE(id, 0);
          const buf = Buffer.concat([Buffer.alloc(pad, 0xee), msg, Buffer.alloc(pad % 7, 0xdd)]);
          const start = pad;
          const end = pad + msg.length;
          let st: number;
          if (memo.lookup(buf, start, end, viaMemo)) st = DNS_OK;
          else {
            st = decodeDnsResponse(buf, start, end, viaMemo);
            memo.store(viaMemo, st);
          }
          const want = snapshot(decodeDnsResponse(buf, start, end, plain), plain, buf, start);
          const got = snapshot(st, viaMemo, buf, start);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            t.log({ got, want });
            return false;
          }
        }
        hits += memo.hits;
        return true;
      },
    ),
    { numRuns: 400 },
  );
  t.true(hits > 100, `the memo path was exercised (${hits} hits)`);
});

test('a message that differs after the ID (one TTL byte) is not a hit; the same bytes with another ID are', (t) => {
  const memo = new DnsMemo();
  const a = newDnsAnswer();
  const m = buildDnsMessage({
    clientIp: '10.0.0.1',
    name: 'web.default.svc',
    answers: [{ type: 'A', value: '10.96.0.1', ttl: 30 }],
  });
  t.false(memo.lookup(m, 0, m.length, a));
  memo.store(a, decodeDnsResponse(m, 0, m.length, a));
  const otherId = Buffer.from(m);
  otherId.writeUInt16BE(0xbeef, 0);
  t.true(memo.lookup(otherId, 0, otherId.length, a));
  t.is(a.id, 0xbeef);
  t.deepEqual([...a.v4.subarray(0, a.v4Count)], [0x0a600001]);
  const otherTtl = Buffer.from(m);
  otherTtl[otherTtl.length - 7]! ^= 1; // the low byte of the A record's TTL (then RDLENGTH, RDATA)
  t.false(memo.lookup(otherTtl, 0, otherTtl.length, a));
  t.is(decodeDnsResponse(otherTtl, 0, otherTtl.length, a), DNS_OK);
  t.is(a.ttl, 31);
  // every byte after the ID is part of the key: flipping any bit of any of them misses
  for (let i = 2; i < m.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const x = Buffer.from(m);
      x[i]! ^= bit;
      if (memo.lookup(x, 0, x.length, a)) t.fail(`byte ${i} bit ${bit} ignored by the key`);
    }
  }
  // too short, or past the buffer: never memoised
  t.false(memo.lookup(m, 0, 11, a));
  t.false(memo.lookup(m, 0, m.length + 1, a));
  t.is(memo.hits, 1);
});

const links: Link[] = ['ethernet', 'sll', 'sll2', 'raw'];

test('the packet path aggregates the same observations and counts with and without the memo', (t) => {
  // generated traffic as the benchmark makes it (templates repeated with new IDs and ports), plus
  // IPv6 clients, DNS over TCP, CNAME chains, changing TTLs and SYNs
  const rnd = prng(11);
  const packets: Array<{ data: Buffer; lt: number }> = [];
  const templates = dnsTemplates(20, 15);
  for (let i = 0; i < 5000; i++) {
    const tpl = templates[Math.floor(rnd() * templates.length)]!;
    const data = Buffer.from(tpl.data);
    data.writeUInt16BE(i & 0xffff, tpl.idOff);
    data.writeUInt16BE(1024 + (i % 50000), tpl.portOff);
    packets.push({ data, lt: 1 });
    if (i % 7 === 0) {
      const link = links[i % links.length]!;
      packets.push({
        lt: LINK_TYPE_OF[link],
        data: buildDnsResponse({
          clientIp: i % 2 ? 'fd00::5' : '10.244.9.9',
          name: `n${i % 13}.svc.cluster.local`,
          id: i & 0xffff,
          transport: i % 3 === 0 ? 'tcp' : 'udp',
          link,
          answers: [
            ...(i % 5 === 0 ? [{ type: 'CNAME' as const, value: `c${i % 13}.svc.cluster.local` }] : []),
            { type: 'A', value: `10.96.1.${i % 13}`, ttl: 30 - (i % 4) },
            { type: 'AAAA', value: `fd00::${i % 13}` },
          ],
        }),
      });
    }
    if (i % 11 === 0)
      packets.push({
        lt: 1,
        data: buildTcpSyn({ clientIp: '10.244.0.2', serverIp: '10.96.0.9', serverPort: 80 + (i % 9) }),
      });
  }
  const run = (dnsMemo: boolean) => {
    const proc = new PacketProcessor({ dnsMemo, dedupeWindowMs: 0 });
    let time = Date.UTC(2026, 0, 1);
    for (const p of packets) {
      time += 3;
      proc.handle(p.data, 0, p.data.length, p.lt, time);
    }
    return { stats: { ...proc.stats }, obs: proc.drain() };
  };
  const withMemo = run(true);
  const without = run(false);
  t.true(withMemo.stats.dnsAnswers > 5000);
  t.deepEqual(withMemo.stats, without.stats);
  t.deepEqual(withMemo.obs, without.obs);
});

test('a window of few hits turns the memo off for a while, then it tries again', (t) => {
  const memo = new DnsMemo();
  const a = newDnsAnswer();
  const msg = (ttl: number): Buffer =>
    buildDnsMessage({ clientIp: '10.0.0.1', name: 'ext.example.com', answers: [{ type: 'A', value: '1.2.3.4', ttl }] });
  // 4096 different answers (a TTL counting down): no hits
  for (let i = 0; i < 4096; i++) {
    t.true(memo.worthIt());
    const m = msg(100_000 - i);
    if (!memo.lookup(m, 0, m.length, a)) memo.store(a, decodeDnsResponse(m, 0, m.length, a));
  }
  let off = 0;
  while (!memo.worthIt()) off++;
  t.is(off, 4096 * 15, 'off for 15 windows');
  // the same answer over and over: stays on
  const same = msg(30);
  for (let i = 0; i < 3 * 4096; i++) {
    t.true(memo.worthIt());
    if (!memo.lookup(same, 0, same.length, a)) memo.store(a, decodeDnsResponse(same, 0, same.length, a));
  }
  t.is(memo.hits, 3 * 4096 - 1);
});
