import test from 'ava';
import {
  CallmapError,
  ContractError,
  compactIntents,
  expandIntents,
  type Intent,
  type WorkloadIdentity,
} from '../../../mapper/contract/index.ts';

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
