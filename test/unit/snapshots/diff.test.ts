import test from 'ava';
import fc from 'fast-check';
import { diffBodies, intentKey, isEmptyDiff, summarize } from '../../../mapper/snapshots/diff.ts';
import { acl, body, edge } from './fixtures.ts';

const base = body([
  edge('shop/frontend', 'shop/checkout', { ports: [8080], http: { '/cart': ['GET'] } }),
  edge('shop/checkout', 'data/kafka', { ports: [9092], kafka: { orders: { ok: ['produce'] } } }),
  edge('billing/payments', 'ext:api.stripe.com', { ports: [443], ips: ['52.1.1.1'] }),
]);

test('identical snapshots: empty diff, all totals zero', (t) => {
  const d = diffBodies(base, structuredClone(base));
  t.true(isEmptyDiff(d.totals));
  t.deepEqual(d.namespaces, []);
  t.deepEqual(d.newEdges, []);
  t.deepEqual(d.vanishedEdges, []);
});

test('no previous snapshot: every edge, path, topic, denial and external is new', (t) => {
  const b = body(
    [...base.intents, edge('shop/checkout', 'data/kafka2', { kafka: { audit: { denied: ['consume'] } } })],
    [acl('shop/checkout', 'data/kafka', 'Group', 'g1', 'read', false)],
  );
  const d = diffBodies(null, b);
  t.is(d.totals.newEdges, 4);
  t.is(d.totals.vanishedEdges, 0);
  t.is(d.totals.newHttp, 1);
  t.is(d.totals.newKafka, 1, 'a topic with only denials is not a new allowed topic');
  t.is(d.totals.newDeniedKafka, 2);
  t.is(d.totals.newExternals, 1);
  t.is(d.totals.newPorts, 0, 'ports of new edges are part of the new edge, not "new ports"');
  t.true(d.newHttp.every((h) => h.wholePath));
});

test('an empty body against nothing is an empty diff', (t) => {
  t.true(isEmptyDiff(diffBodies(null, body([])).totals));
});

test('new and vanished edges, with ports, and the per-namespace summary', (t) => {
  const next = body([
    base.intents[0]!,
    base.intents[2]!,
    edge('shop/frontend', 'shop/search', { ports: [9200] }),
    edge('ops/backup', 'billing/payments', { ports: [5432] }),
  ]);
  const d = diffBodies(base, next);
  t.deepEqual(
    d.newEdges.map((e) => [e.client.name, e.server?.name, e.ports]),
    [
      ['backup', 'payments', [5432]],
      ['frontend', 'search', [9200]],
    ],
  );
  t.deepEqual(
    d.vanishedEdges.map((e) => [e.client.name, e.server?.name, e.ports]),
    [['checkout', 'kafka', [9092]]],
  );
  t.is(d.totals.removedKafka, 1, 'the vanished edge took its topic with it');
  t.deepEqual(
    d.namespaces.map((n) => [n.namespace, n.newEdges, n.vanishedEdges, n.removedKafka]),
    [
      ['ops', 1, 0, 0],
      ['shop', 1, 1, 1],
    ],
  );
});

test('new ports on a known edge', (t) => {
  const next = body([
    edge('shop/frontend', 'shop/checkout', { ports: [8080, 8443], http: { '/cart': ['GET'] } }),
    ...base.intents.slice(1),
  ]);
  const d = diffBodies(base, next);
  t.deepEqual(
    d.newPorts.map((p) => p.ports),
    [[8443]],
  );
  t.is(d.totals.newEdges, 0);
  t.is(d.totals.newPorts, 1);
});

test('HTTP: new path, new method on a known path, removed path and removed method', (t) => {
  const from = body([
    edge('shop/frontend', 'shop/checkout', { http: { '/cart': ['GET'], '/old': ['GET'], '/x': ['GET', 'PUT'] } }),
  ]);
  const to = body([
    edge('shop/frontend', 'shop/checkout', { http: { '/cart': ['GET', 'POST'], '/new': ['DELETE'], '/x': ['GET'] } }),
  ]);
  const d = diffBodies(from, to);
  t.deepEqual(
    d.newHttp.map((h) => [h.path, h.methods, h.wholePath]),
    [
      ['/cart', ['POST'], false],
      ['/new', ['DELETE'], true],
    ],
  );
  t.deepEqual(
    d.removedHttp.map((h) => [h.path, h.methods, h.wholePath]),
    [
      ['/old', ['GET'], true],
      ['/x', ['PUT'], false],
    ],
  );
  t.is(d.totals.newEdges, 0);
});

test('HTTP paths without recorded methods are compared by path', (t) => {
  const from = body([edge('shop/a', 'shop/b', { http: { '/a': [] } })]);
  const to = body([edge('shop/a', 'shop/b', { http: { '/a': [], '/b': [] } })]);
  const d = diffBodies(from, to);
  t.deepEqual(
    d.newHttp.map((h) => [h.path, h.methods, h.wholePath]),
    [['/b', [], true]],
  );
  t.deepEqual(d.removedHttp, []);
});

test('Kafka: new topic, new operation on a known topic, removed operation', (t) => {
  const from = body([edge('shop/c', 'data/kafka', { kafka: { orders: { ok: ['produce', 'describe'] } } })]);
  const to = body([
    edge('shop/c', 'data/kafka', { kafka: { orders: { ok: ['produce', 'consume'] }, audit: { ok: ['produce'] } } }),
  ]);
  const d = diffBodies(from, to);
  t.deepEqual(
    d.newKafka.map((k) => [k.topic, k.operations]),
    [
      ['audit', ['produce']],
      ['orders', ['consume']],
    ],
  );
  t.deepEqual(
    d.removedKafka.map((k) => [k.topic, k.operations]),
    [['orders', ['describe']]],
  );
});

test('denied Kafka attempts: only newly seen denials count, on topics and other resources', (t) => {
  const from = body(
    [edge('shop/c', 'data/kafka', { kafka: { orders: { ok: ['produce'], denied: ['consume'] } } })],
    [
      acl('shop/c', 'data/kafka', 'Group', 'g1', 'read', false),
      acl('shop/c', 'data/kafka', 'Cluster', 'kafka-cluster', 'create', true),
    ],
  );
  const to = body(
    [
      edge('shop/c', 'data/kafka', {
        kafka: { orders: { ok: ['produce'], denied: ['consume', 'delete'] }, pii: { denied: ['consume'] } },
      }),
    ],
    [
      acl('shop/c', 'data/kafka', 'Group', 'g1', 'read', false),
      acl('shop/c', 'data/kafka', 'Group', 'g2', 'read', false),
      acl('shop/c', 'data/kafka', 'Cluster', 'kafka-cluster', 'alter', true),
    ],
  );
  const d = diffBodies(from, to);
  t.deepEqual(
    d.newDeniedKafka.map((x) => [x.resourceType, x.resourceName, x.operations, x.server?.kind]),
    [
      ['Group', 'g2', ['read'], 'Deployment'],
      ['Topic', 'orders', ['delete'], 'Deployment'],
      ['Topic', 'pii', ['consume'], 'Deployment'],
    ],
  );
  t.is(d.totals.newKafka, 0, 'denied-only topics are not new allowed topics');
  t.deepEqual(
    d.namespaces.map((n) => [n.namespace, n.newDeniedKafka]),
    [['shop', 3]],
  );
});

test('an ACL denial from a workload that has no edge still names it (kind Unknown)', (t) => {
  const d = diffBodies(null, body([], [acl('ops/tool', 'data/kafka', 'Group', 'g', 'read', false)]));
  t.is(d.newDeniedKafka[0]?.client.kind, 'Unknown');
  t.is(d.newDeniedKafka[0]?.client.name, 'tool');
});

test('externals: a new domain is new once (clients and IPs merged); a known domain from a new client is only a new edge', (t) => {
  const from = body([edge('billing/payments', 'ext:api.stripe.com', { ips: ['52.1.1.1'] })]);
  const to = body([
    edge('billing/payments', 'ext:api.stripe.com', { ips: ['52.1.1.1'] }),
    edge('shop/checkout', 'ext:api.stripe.com', { ips: ['52.1.1.2'] }),
    edge('shop/checkout', 'ext:evil.example', { ips: ['6.6.6.6'] }),
    edge('billing/payments', 'ext:evil.example', { ips: ['6.6.6.7', '6.6.6.6'] }),
  ]);
  const d = diffBodies(from, to);
  t.deepEqual(d.newExternals, [
    {
      domain: 'evil.example',
      ips: ['6.6.6.6', '6.6.6.7'],
      clients: [
        { name: 'payments', namespace: 'billing' },
        { name: 'checkout', namespace: 'shop' },
      ],
    },
  ]);
  t.is(d.totals.newExternals, 1);
  t.is(d.totals.newEdges, 3);
  t.deepEqual(
    d.namespaces.map((n) => [n.namespace, n.newExternals, n.newEdges]),
    [
      ['billing', 1, 1],
      ['shop', 1, 2],
    ],
  );
  t.deepEqual(d.newEdges.find((e) => e.external === 'evil.example' && e.client.name === 'checkout')?.server, undefined);
});

test('edge identity ignores the server kind but not the namespace', (t) => {
  const a = edge('shop/a', 'shop/b');
  const b = edge('shop/a', 'other/b');
  t.not(intentKey(a), intentKey(b));
  t.is(intentKey(edge('shop/a', 'ext:x.example')), 'shop/a>ext:x.example');
});

test('summary: totals and per-namespace counts', (t) => {
  const s = summarize(
    body(
      [
        ...base.intents,
        edge('shop/checkout', 'data/kafka2', { kafka: { audit: { denied: ['consume', 'describe'] } } }),
      ],
      [
        acl('shop/checkout', 'data/kafka', 'Group', 'g', 'read', false),
        acl('shop/checkout', 'data/kafka', 'Group', 'g', 'describe', true),
      ],
    ),
  );
  t.deepEqual(s.totals, { edges: 4, workloads: 5, httpPaths: 1, kafkaTopics: 2, deniedKafka: 3, externals: 1 });
  t.deepEqual(
    s.namespaces.map((n) => [n.namespace, n.edges, n.workloads, n.deniedKafka, n.externals]),
    [
      ['billing', 1, 1, 0, 1],
      ['data', 0, 2, 0, 0],
      ['shop', 3, 2, 3, 0],
    ],
  );
});

// ---- properties

const names = ['a', 'b', 'c', 'd'];
const arbEdgeSpec = fc.record({
  client: fc.constantFrom(...names.map((n) => `ns${n === 'a' ? 1 : 2}/${n}`)),
  target: fc.constantFrom('ns1/a', 'ns2/b', 'ns1/c', 'ext:x.example', 'ext:y.example'),
  ports: fc.uniqueArray(fc.constantFrom(80, 443, 8080), { maxLength: 3 }),
  http: fc.dictionary(
    fc.constantFrom('/a', '/b', '/c'),
    fc.uniqueArray(fc.constantFrom('GET', 'POST'), { maxLength: 2 }),
    {
      maxKeys: 3,
    },
  ),
  kafka: fc.dictionary(
    fc.constantFrom('t1', 't2'),
    fc.record({
      ok: fc.uniqueArray(fc.constantFrom('produce' as const, 'consume' as const), { maxLength: 2 }),
      denied: fc.uniqueArray(fc.constantFrom('produce' as const, 'describe' as const), { maxLength: 2 }),
    }),
    { maxKeys: 2 },
  ),
});
const arbBody = fc
  .uniqueArray(arbEdgeSpec, { maxLength: 8, selector: (e) => `${e.client}>${e.target}` })
  .map((specs) =>
    body(specs.map((s) => edge(s.client, s.target, { ports: [...s.ports].sort(), http: s.http, kafka: s.kafka }))),
  );

test('property: diff(a, a) is empty; new in diff(a, b) mirrors removed in diff(b, a)', (t) => {
  fc.assert(
    fc.property(arbBody, arbBody, (a, b) => {
      if (!isEmptyDiff(diffBodies(a, a).totals)) return false;
      const ab = diffBodies(a, b);
      const ba = diffBodies(b, a);
      const keysA = new Set(a.intents.map(intentKey));
      const keysB = new Set(b.intents.map(intentKey));
      const onlyB = [...keysB].filter((k) => !keysA.has(k)).length;
      return (
        ab.totals.newEdges === onlyB &&
        ab.totals.newEdges === ba.totals.vanishedEdges &&
        sameItems(ab.newHttp, ba.removedHttp) &&
        ab.totals.newKafka === ba.totals.removedKafka &&
        ab.namespaces.reduce((s, n) => s + n.newEdges, 0) === ab.totals.newEdges
      );
    }),
    { numRuns: 300 },
  );
  t.pass();
});

const sameItems = (x: unknown[], y: unknown[]): boolean =>
  JSON.stringify(x.map((v) => JSON.stringify(v)).sort()) === JSON.stringify(y.map((v) => JSON.stringify(v)).sort());

test('property: the diff is deterministic and never counts a change twice', (t) => {
  fc.assert(
    fc.property(arbBody, arbBody, (a, b) => {
      const d1 = diffBodies(a, b);
      const d2 = diffBodies(structuredClone(a), structuredClone(b));
      const httpKeys = d1.newHttp.map((h) => `${h.client.name}>${h.server?.name ?? h.external}:${h.path}`);
      return JSON.stringify(d1) === JSON.stringify(d2) && new Set(httpKeys).size === httpKeys.length;
    }),
    { numRuns: 200 },
  );
  t.pass();
});
