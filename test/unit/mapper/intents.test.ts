import test from 'ava';
import fc from 'fast-check';
import type { Observation } from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import { buildIntents, type IntentsFilter, intentsJson, openMapStore } from '../../../mapper/store/index.ts';
import { batch, shopResolver, T0, tcp, W } from './fixtures.ts';

const filters: IntentsFilter[] = [
  {},
  { external: true },
  { namespaces: ['shop'] },
  { namespaces: ['billing', 'data'], external: true },
  { excludeLabels: [{ key: 'app', value: 'checkout' }] },
  { asKubernetesService: true, external: true },
  { server: { name: 'checkout-svc', namespace: 'shop' } },
];

const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.96.0.2', '10.96.0.3', '52.1.1.1'];
const obsArb: fc.Arbitrary<Observation> = fc.oneof(
  fc
    .record({
      c: fc.constantFrom(...ips),
      s: fc.constantFrom(...ips),
      p: fc.integer({ min: 1, max: 5 }),
      dt: fc.nat(100),
    })
    .map(({ c, s, p, dt }) => tcp(c, s, p, T0 + dt)),
  fc
    .record({
      c: fc.constantFrom(W.frontend, W.checkout, W.payments),
      s: fc.constantFrom(W.frontend, W.checkout, W.payments, W.kafka),
      path: fc.constantFrom('/a', '/b', undefined),
      method: fc.constantFrom('GET', 'POST'),
      svc: fc.constantFrom('svc-a', undefined),
    })
    .map(
      ({ c, s, path, method, svc }): Observation => ({
        kind: 'http',
        client: c,
        server: s,
        ...(path ? { path, method } : {}),
        ...(svc ? { serverService: svc } : {}),
        count: 1,
        time: T0,
      }),
    ),
  fc.constant<Observation>({
    kind: 'dns',
    clientIp: '10.0.0.3',
    name: 'api.stripe.com',
    ips: ['52.1.1.1'],
    ttl: 60,
    time: T0,
  }),
);

test('property: the cached JSON fast path equals serialising buildIntents, across updates', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(obsArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
      async (batches) => {
        const store = openMapStore({ path: ':memory:' });
        const pipe = createIngestPipeline({ resolver: shopResolver(), store, clock: () => T0 });
        for (const obs of batches) {
          await pipe.ingest(batch(obs));
          for (const f of filters) {
            const fast = intentsJson(store, f).toString();
            const slow = JSON.stringify({ intents: buildIntents(store, f) });
            if (fast !== slow) throw new Error(`mismatch for ${JSON.stringify(f)}:\n${fast}\n${slow}`);
          }
        }
        store.close();
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('a workload identity change invalidates cached fragments', async (t) => {
  const store = openMapStore({ path: ':memory:' });
  const resolver = shopResolver();
  const pipe = createIngestPipeline({ resolver, store, clock: () => T0 });
  await pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
  t.regex(intentsJson(store).toString(), /"tier":"web"/);
  resolver.tables.ips = {
    ...resolver.tables.ips,
    '10.0.0.1': { ...W.frontend, labels: { app: 'frontend', tier: 'edge' } },
  };
  await pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.3', 80)]));
  const json = intentsJson(store).toString();
  t.notRegex(json, /"tier":"web"/);
  t.is(json, JSON.stringify({ intents: buildIntents(store) }));
});
