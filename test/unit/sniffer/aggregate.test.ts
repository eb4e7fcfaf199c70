import test from 'ava';
import type { DnsObservation } from '../../../mapper/contract/index.ts';
import { Aggregator } from '../../../sniffer/aggregate.ts';
import { DNS_OK, decodeDnsResponse, newDnsAnswer } from '../../../sniffer/decode/dns.ts';
import { buildDnsMessage } from '../../../sniffer/index.ts';

/** Feeds one decoded answer for `name` with these A (and AAAA) records to the aggregator. */
function add(agg: Aggregator, client: number, name: string, v4: string[], v6: string[] = [], time = 1000): void {
  const msg = buildDnsMessage({
    clientIp: '10.0.0.1',
    name,
    qtype: v6.length > 0 && v4.length === 0 ? 'AAAA' : 'A',
    answers: [
      ...v4.map((value) => ({ type: 'A' as const, value })),
      ...v6.map((value) => ({ type: 'AAAA' as const, value })),
    ],
  });
  const a = newDnsAnswer();
  if (decodeDnsResponse(msg, 0, msg.length, a) !== DNS_OK) throw new Error('test message did not decode');
  agg.addDns(client, undefined, a, msg, time);
}

const dns = (agg: Aggregator): DnsObservation[] =>
  agg
    .drain()
    .filter((o): o is DnsObservation => o.kind === 'dns')
    .map((o) => ({ ...o, ips: [...o.ips].sort() }));

test('addresses: a lone address, repeats, changes and multi-address answers all end up in the entry', (t) => {
  const agg = new Aggregator();
  add(agg, 1, 'one.svc', ['10.0.0.1']);
  add(agg, 1, 'one.svc', ['10.0.0.1']);
  add(agg, 2, 'changes.svc', ['10.0.0.1']);
  add(agg, 2, 'changes.svc', ['10.0.0.2']);
  add(agg, 2, 'changes.svc', ['10.0.0.3', '10.0.0.4']);
  add(agg, 2, 'changes.svc', ['10.0.0.5']);
  add(agg, 2, 'changes.svc', ['10.0.0.5']);
  add(agg, 3, 'multi.svc', ['10.0.1.1', '10.0.1.2']);
  add(agg, 3, 'multi.svc', ['10.0.1.2', '10.0.1.1']);
  add(agg, 4, 'empty.svc', []);
  add(agg, 4, 'empty.svc', ['10.0.2.1']);
  const seven = Array.from({ length: 7 }, (_, i) => `10.0.4.${i + 1}`);
  add(agg, 6, 'seven.svc', seven);
  add(agg, 6, 'seven.svc', seven);
  add(agg, 6, 'seven.svc', ['10.0.4.1', '10.0.4.2', '10.0.4.3', '10.0.4.4', '10.0.4.5', '10.0.4.6', '10.0.4.99']);
  add(agg, 7, 'three.svc', ['10.0.5.1', '10.0.5.2', '10.0.5.3']);
  add(agg, 7, 'three.svc', ['10.0.5.1', '10.0.5.2', '10.0.5.3']);
  add(agg, 8, 'three-then-other.svc', ['10.0.6.1', '10.0.6.2', '10.0.6.3']);
  add(agg, 8, 'three-then-other.svc', ['10.0.6.1', '10.0.6.2', '10.0.6.4']);
  add(agg, 5, 'mixed.svc', ['10.0.3.1'], ['fd00::1']);
  add(agg, 5, 'mixed.svc', ['10.0.3.1']);
  const got = new Map(dns(agg).map((o) => [o.name, o]));
  t.deepEqual(got.get('one.svc')?.ips, ['10.0.0.1']);
  t.is(got.get('one.svc')?.count, 2);
  t.deepEqual(got.get('changes.svc')?.ips, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  t.is(got.get('changes.svc')?.count, 5);
  t.deepEqual(got.get('multi.svc')?.ips, ['10.0.1.1', '10.0.1.2']);
  t.deepEqual(got.get('empty.svc')?.ips, ['10.0.2.1']);
  t.deepEqual(got.get('mixed.svc')?.ips, ['10.0.3.1', 'fd00::1']);
  t.deepEqual(got.get('seven.svc')?.ips, [...seven, '10.0.4.99'].sort());
  t.deepEqual(got.get('three.svc')?.ips, ['10.0.5.1', '10.0.5.2', '10.0.5.3']);
  t.deepEqual(got.get('three-then-other.svc')?.ips, ['10.0.6.1', '10.0.6.2', '10.0.6.3', '10.0.6.4']);
  // drained: a new interval starts empty, and a lone address does not leak from the last one
  add(agg, 1, 'one.svc', []);
  t.deepEqual(
    dns(agg).map((o) => [o.name, o.ips]),
    [['one.svc', []]],
  );
});

test('the same name from IPv4 and IPv6 clients, and different clients, are separate entries', (t) => {
  const agg = new Aggregator();
  const msg = buildDnsMessage({ clientIp: '10.0.0.1', name: 'web.svc', answers: [{ type: 'A', value: '10.9.0.1' }] });
  const a = newDnsAnswer();
  t.is(decodeDnsResponse(msg, 0, msg.length, a), DNS_OK);
  agg.addDns(0, 'fd00::5', a, msg, 1000); // IPv6 client index 0
  agg.addDns(0, undefined, a, msg, 1000); // IPv4 client 0.0.0.0
  agg.addDns(0x0a000001, undefined, a, msg, 1000);
  agg.addDns(0, 'fd00::5', a, msg, 1001);
  const obs = dns(agg);
  t.deepEqual(obs.map((o) => [o.clientIp, o.count]).sort(), [
    ['0.0.0.0', 1],
    ['10.0.0.1', 1],
    ['fd00::5', 2],
  ]);
});
