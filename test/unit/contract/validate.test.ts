import test from 'ava';
import { ContractError, isIp, parseObservation, parseReportBatch } from '../../../mapper/contract/index.ts';

const T = Date.UTC(2026, 10, 21, 12, 0, 0);

const goodBatch = () => ({
  batchId: 'sniffer-1',
  reporter: { component: 'sniffer', instance: 'node-a' },
  sentAt: T,
  observations: [
    {
      kind: 'dns',
      clientIp: '10.0.0.1',
      name: 'Cart.Shop.svc.cluster.local',
      ips: ['10.96.0.5', 'fd00::5'],
      ttl: 30,
      time: T,
    },
    { kind: 'tcp', clientIp: '10.0.0.1', serverIp: '10.0.0.9', serverPort: 8080, source: 'capture', time: T, count: 3 },
    {
      kind: 'http',
      client: { name: 'frontend', namespace: 'shop' },
      server: { name: 'cart', namespace: 'shop' },
      method: 'GET',
      path: '/cart/items',
      count: 2,
      time: T,
      reporter: 'destination',
    },
    {
      kind: 'workload-tcp',
      client: { name: 'a', namespace: 'x' },
      server: { name: 'b', namespace: 'y' },
      port: 80,
      count: 1,
      time: T,
    },
    {
      kind: 'kafka',
      clientIp: '0:0:0:0:0:0:0:1',
      serverPod: { name: 'kafka-0', namespace: 'kafka' },
      resourceType: 'Topic',
      resourceName: 'orders.v1',
      patternType: 'LITERAL',
      operation: 'consume',
      allowed: false,
      principal: 'User:CN=app,OU=Team A',
      count: 1,
      time: T,
    },
  ],
});

test('a well-formed batch of every observation kind is accepted and cleaned', (t) => {
  const b = parseReportBatch({ ...goodBatch(), extra: 'ignored' });
  t.is(b.observations.length, 5);
  const dns = b.observations[0];
  t.is(dns?.kind, 'dns');
  t.is(dns?.kind === 'dns' ? dns.name : '', 'cart.shop.svc.cluster.local');
  t.false('extra' in b);
});

let caseNo = 0;
const rejects = (mutate: (b: ReturnType<typeof goodBatch>) => unknown, path: string, fragment?: RegExp) => {
  caseNo += 1;
  test(`rejects with a field-level error at ${path} (case ${caseNo})`, (t) => {
    const b = goodBatch();
    const input = mutate(b) ?? b;
    const e = t.throws(() => parseReportBatch(input), { instanceOf: ContractError });
    t.is(e?.path, path);
    t.is(e?.code, 'CONTRACT_INVALID');
    t.true(e?.message.startsWith(`${path}: `));
    if (fragment) t.regex(e?.message ?? '', fragment);
  });
};

rejects(() => 'not json object', 'batch', /expected an object, got string/);
rejects(() => [], 'batch', /got array/);
rejects((b) => ({ ...b, batchId: 'has space' }), 'batch.batchId');
rejects((b) => ({ ...b, batchId: undefined }), 'batch.batchId', /expected a string/);
rejects((b) => ({ ...b, reporter: { component: 'spy', instance: 'x' } }), 'batch.reporter.component', /one of sniffer/);
rejects((b) => ({ ...b, sentAt: 12 }), 'batch.sentAt', /between/);
rejects((b) => ({ ...b, observations: {} }), 'batch.observations', /expected an array/);
rejects(
  (b) => {
    (b.observations[1] as Record<string, unknown>)['serverPort'] = 70000;
  },
  'batch.observations[1].serverPort',
  /between 1 and 65535/,
);
rejects(
  (b) => {
    (b.observations[1] as Record<string, unknown>)['serverPort'] = '80';
  },
  'batch.observations[1].serverPort',
  /expected an integer, got string/,
);
rejects(
  (b) => {
    (b.observations[0] as Record<string, unknown>)['clientIp'] = '10.0.0.256';
  },
  'batch.observations[0].clientIp',
  /not an IP/,
);
rejects((b) => {
  (b.observations[0] as Record<string, unknown>)['ips'] = ['10.0.0.1', 'nope'];
}, 'batch.observations[0].ips[1]');
rejects(
  (b) => {
    (b.observations[2] as Record<string, unknown>)['method'] = 'get';
  },
  'batch.observations[2].method',
  /upper-case/,
);
rejects((b) => {
  (b.observations[2] as Record<string, unknown>)['path'] = 'no-slash';
}, 'batch.observations[2].path');
rejects((b) => {
  (b.observations[2] as Record<string, unknown>)['client'] = { name: 'x' };
}, 'batch.observations[2].client.namespace');
rejects(
  (b) => {
    (b.observations[4] as Record<string, unknown>)['operation'] = 'Read';
  },
  'batch.observations[4].operation',
  /consume/,
);
rejects(
  (b) => {
    (b.observations[4] as Record<string, unknown>)['allowed'] = 'yes';
  },
  'batch.observations[4].allowed',
  /boolean/,
);
rejects((b) => {
  (b.observations[3] as Record<string, unknown>)['count'] = 0;
}, 'batch.observations[3].count');
rejects(
  (b) => {
    (b.observations[3] as Record<string, unknown>)['kind'] = 'udp';
  },
  'batch.observations[3].kind',
  /one of dns, tcp/,
);
rejects(
  (b) => {
    (b.observations[0] as Record<string, unknown>)['name'] = 'x'.repeat(5000);
  },
  'batch.observations[0].name',
  /longer than/,
);

test('rejects an absurdly large batch before validating each entry', (t) => {
  const b = goodBatch();
  const huge = { ...b, observations: new Array(50_001).fill(b.observations[0]) };
  const e = t.throws(() => parseReportBatch(huge), { instanceOf: ContractError });
  t.regex(e?.message ?? '', /split batches/);
});

test('isIp accepts v4, v6 and mapped forms and rejects junk', (t) => {
  for (const ok of ['1.2.3.4', '::1', 'fd00::5', '0:0:0:0:0:0:0:1', '::ffff:10.0.0.1', '2001:db8::a:b'])
    t.true(isIp(ok), ok);
  for (const bad of ['', '1.2.3', '01.2.3.4.5', '256.1.1.1', 'a:b:c', '1::2::3', 'fe80::zz', 'hello'])
    t.false(isIp(bad), bad);
});

test('parseObservation works on a single observation with a custom path', (t) => {
  const e = t.throws(() => parseObservation({ kind: 'tcp' }, 'obs'), { instanceOf: ContractError });
  t.is(e?.path, 'obs.clientIp');
});
