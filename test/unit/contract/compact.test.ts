import test from 'ava';
import fc from 'fast-check';
import {
  CallmapError,
  ContractError,
  compactGraph,
  compactIntents,
  expandGraph,
  expandIntents,
  type GraphEdge,
  type Intent,
  type WorkloadIdentity,
} from '../../../mapper/contract/index.ts';
import { buildGraph } from '../../../mapper/store/intents.ts';

const w = (name: string, namespace = 'shop', labels?: Record<string, string>): WorkloadIdentity =>
  labels ? { name, namespace, kind: 'Deployment', labels } : { name, namespace, kind: 'Deployment' };

const base = { ports: [80], http: [], kafka: [], firstSeen: 1, lastSeen: 2, count: 3 };
const intents: Intent[] = [
  { client: w('a', 'shop', { app: 'a' }), ...base, server: w('b') },
  {
    client: w('a', 'shop', { app: 'a' }),
    ...base,
    server: w('c', 'billing'),
    viaService: { name: 'c', namespace: 'billing' },
  },
  { client: w('b'), ...base, external: { domain: 'api.example.com', ips: ['52.1.1.1'] } },
  { client: w('c', 'billing'), ...base, server: w('a', 'shop', { app: 'a' }) },
];

test('compactIntents names each identity once, in order of first appearance, keeping the intent key order', (t) => {
  const c = compactIntents(intents);
  t.deepEqual(
    c.workloads.map((x) => `${x.namespace}/${x.name}`),
    ['shop/a', 'shop/b', 'billing/c'],
  );
  t.deepEqual(
    c.intents.map((i) => [i.client, i.server]),
    [
      [0, 1],
      [0, 2],
      [1, undefined],
      [2, 0],
    ],
  );
  t.deepEqual(Object.keys(c.intents[1] ?? {}), Object.keys(intents[1] ?? {}));
  t.true(JSON.stringify(c).length < JSON.stringify({ intents }).length);
});

test('expandIntents inverts compactIntents; a full-shape body passes through unchanged', (t) => {
  const wire = JSON.parse(JSON.stringify(compactIntents(intents))) as unknown;
  t.deepEqual(expandIntents(wire), { intents });
  const full = JSON.parse(JSON.stringify({ intents })) as unknown;
  t.deepEqual(expandIntents(full), { intents });
  t.deepEqual(expandIntents({ intents: [], workloads: [] }), { intents: [] });
});

test('expandIntents rejects bad framing and out-of-range indexes with the field path', (t) => {
  const bad = (v: unknown, path: string): void => {
    const e = t.throws(() => expandIntents(v), { instanceOf: ContractError });
    t.is((e as ContractError).path, path);
    t.true(e instanceof CallmapError);
  };
  bad(null, 'response');
  bad([], 'response');
  bad({ workloads: [] }, 'response.intents');
  bad({ intents: [], workloads: {} }, 'response.workloads');
  bad({ intents: [7], workloads: [] }, 'response.intents[0]');
  bad({ intents: [{ ...base, client: 1 }], workloads: [w('a')] }, 'response.intents[0].client');
  bad({ intents: [{ ...base, client: 0, server: -1 }], workloads: [w('a')] }, 'response.intents[0].server');
  bad({ intents: [{ ...base, client: 0.5 }], workloads: [w('a')] }, 'response.intents[0].client');
  bad({ intents: [{ ...base, client: '0' }], workloads: [w('a')] }, 'response.intents[0].client');
  bad({ intents: [{ ...base, client: 0 }], workloads: [null] }, 'response.intents[0].client');
});

// ---- compact graph (ADR 0038)

const graph = buildGraph(intents);

test('compactGraph names edge ends by node index and leaves out ids and the identities the nodes hold', (t) => {
  const c = compactGraph(graph);
  t.is(c.nodes, graph.nodes);
  t.is(c.edges.length, graph.edges.length);
  c.edges.forEach((e, i) => {
    const full = graph.edges[i] as GraphEdge;
    t.is(c.nodes[e.source]?.id, full.source);
    t.is(c.nodes[e.target]?.id, full.target);
    t.false('id' in e);
    t.false('client' in e.intent);
    t.false('server' in e.intent);
  });
  t.true(JSON.stringify(c).length < JSON.stringify(graph).length);
});

test('expandGraph gives exactly the full graph body back; a full-shape body passes through', (t) => {
  const wire = JSON.parse(JSON.stringify(compactGraph(graph))) as unknown;
  t.is(JSON.stringify(expandGraph(wire)), JSON.stringify(graph));
  t.is(JSON.stringify(expandGraph(JSON.parse(JSON.stringify(graph)))), JSON.stringify(graph));
  t.deepEqual(expandGraph({ nodes: [], edges: [] }), { nodes: [], edges: [] });
});

test('compactGraph keeps an intent identity that differs from its node, and expandGraph restores it in place', (t) => {
  const g = buildGraph(intents);
  const e = g.edges[0] as GraphEdge;
  // Same node id, other labels: not the node's workload, so it must travel in full.
  e.intent = { ...e.intent, server: { ...(e.intent.server as WorkloadIdentity), labels: { other: 'x' } } };
  const c = compactGraph(g);
  t.deepEqual(c.edges[0]?.intent.server, e.intent.server);
  t.false('client' in (c.edges[0]?.intent ?? {}));
  t.is(JSON.stringify(expandGraph(JSON.parse(JSON.stringify(c)))), JSON.stringify(g));
});

test('property: expandGraph(compactGraph(g)) is byte-identical to g for random intents', (t) => {
  const ident = fc
    .record({
      name: fc.constantFrom('a', 'b', 'c', 'd'),
      namespace: fc.constantFrom('shop', 'billing'),
      kind: fc.constantFrom('Deployment', 'Service', 'Unknown'),
    })
    .map((x): WorkloadIdentity => x);
  const intentArb = fc
    .record({
      client: ident,
      server: fc.option(ident, { nil: undefined }),
      domain: fc.constantFrom('x.example.com', 'y.example.com'),
      via: fc.boolean(),
      count: fc.nat(9),
    })
    .map(({ client, server, domain, via, count }): Intent => {
      const it: Intent = { client, ports: [80], http: [], kafka: [], firstSeen: 1, lastSeen: 2, count };
      if (server) it.server = server;
      else it.external = { domain, ips: ['52.1.1.1'] };
      if (via && server) it.viaService = { name: server.name, namespace: server.namespace };
      return it;
    });
  fc.assert(
    fc.property(fc.array(intentArb, { maxLength: 12 }), (list) => {
      const g = buildGraph(list);
      const wire = JSON.parse(JSON.stringify(compactGraph(g))) as unknown;
      return JSON.stringify(expandGraph(wire)) === JSON.stringify(g);
    }),
  );
  t.pass();
});

test('expandGraph rejects bad framing and out-of-range indexes with the field path', (t) => {
  const bad = (v: unknown, path: string): void => {
    const e = t.throws(() => expandGraph(v), { instanceOf: ContractError });
    t.is((e as ContractError).path, path);
  };
  bad(null, 'response');
  bad({ nodes: {}, edges: [] }, 'response.nodes');
  bad({ nodes: [], edges: 1 }, 'response.edges');
  bad({ nodes: [{ id: 'shop/a' }], edges: [null] }, 'response.edges[0]');
  bad(
    { nodes: [{ id: 'shop/a' }], edges: [{ source: 0, target: 3, kinds: ['l4'], intent: {} }] },
    'response.edges[0].target',
  );
  bad(
    { nodes: [{ id: 'shop/a' }], edges: [{ source: 0, target: 0, kinds: ['l4'], intent: 1 }] },
    'response.edges[0].intent',
  );
  bad(
    { nodes: [{ id: 'ext:x' }], edges: [{ source: 0, target: 0, kinds: ['l4'], intent: {} }] },
    'response.edges[0].intent.client',
  );
});
