/**
 * Both graph shapes streamed from the compact intents body and its graph table (ADR 0046) are the
 * reference encoders' bytes (`compactGraph(buildGraph(…))`, `buildGraph(…)`), for every fast-path
 * filter, across updates (identity changes included), in chunks of any size, with external
 * destinations and multi-byte text.
 */
import test from 'ava';
import fc from 'fast-check';
import { compactGraph, type Observation } from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import {
  buildGraph,
  buildIntents,
  compactIntentsJsonChunks,
  DefaultShapeStream,
  defaultShapeStreams,
  fastFilter,
  graphTable,
  type IntentsFilter,
  openMapStore,
} from '../../../mapper/store/index.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';
import { batch, T0, tcp, W } from './fixtures.ts';

const filters: IntentsFilter[] = [
  {},
  { external: true },
  { namespaces: ['shop'] },
  { namespaces: ['billing', 'data'], external: true },
  { excludeLabels: [{ key: 'app', value: 'checkout' }] },
];

/** The workload checkout seen as a StatefulSet with other labels: the store replaces its identity. */
const twin = { name: 'checkout', namespace: 'shop', kind: 'StatefulSet', labels: { app: 'twin' } };

function resolver(): StaticResolver {
  return new StaticResolver({
    ips: {
      '10.0.0.1': W.frontend,
      '10.0.0.2': W.checkout,
      '10.0.0.3': W.payments,
      '10.0.0.4': { workload: W.kafka, pod: { name: 'kafka-0', namespace: 'data' } },
      '10.0.0.5': twin,
      '10.96.0.2': { workload: W.checkout, service: { name: 'checkout-svc', namespace: 'shop' } },
    },
    workloads: { 'shop/frontend': W.frontend, 'shop/checkout': W.checkout, 'billing/payments': W.payments },
  });
}

const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.96.0.2', '52.1.1.1', '52.1.1.2'];
const obsArb: fc.Arbitrary<Observation> = fc.oneof(
  fc
    .record({
      c: fc.constantFrom(...ips),
      s: fc.constantFrom(...ips),
      p: fc.integer({ min: 1, max: 3 }),
      dt: fc.nat(100),
    })
    .map(({ c, s, p, dt }) => tcp(c, s, p, T0 + dt)),
  fc
    .record({
      c: fc.constantFrom(W.frontend, W.checkout, W.payments),
      s: fc.constantFrom(W.frontend, W.checkout, W.payments, W.kafka),
      path: fc.constantFrom('/a', '/é', undefined),
    })
    .map(
      ({ c, s, path }): Observation => ({
        kind: 'http',
        client: c,
        server: s,
        ...(path ? { path, method: 'GET' } : {}),
        count: 1,
        time: T0,
      }),
    ),
  fc.record({ c: fc.constantFrom('10.0.0.1', '10.0.0.5'), name: fc.constantFrom('api.stripe.com', 'x.example') }).map(
    ({ c, name }): Observation => ({
      kind: 'dns',
      clientIp: c,
      name,
      ips: name === 'x.example' ? ['52.1.1.2'] : ['52.1.1.1'],
      ttl: 60,
      time: T0,
    }),
  ),
);

function streamed(s: DefaultShapeStream, sizes: readonly number[]): string {
  const parts: Buffer[] = [];
  let n = 0;
  for (let c = s.next(sizes[0]); c !== undefined; c = s.next(sizes[++n % sizes.length])) {
    if (c.length === 0) throw new Error('empty chunk');
    parts.push(Buffer.from(c));
  }
  const got = Buffer.concat(parts);
  if (got.length !== s.length) throw new Error(`length ${s.length}, wrote ${got.length}`);
  return got.toString();
}

test('property: the compact and default graphs streamed from the compact intents body are the reference bytes', async (t) => {
  let externals = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(obsArb, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 2, max: 4000 }), { minLength: 1, maxLength: 6 }),
      async (batches, sizes) => {
        const store = openMapStore({ path: ':memory:' });
        const pipe = createIngestPipeline({ resolver: resolver(), store, clock: () => T0 });
        // The same workload seen with another kind and labels (the store replaces its identity).
        await pipe.ingest(
          batch([
            tcp('10.0.0.5', '10.0.0.1', 9, T0),
            tcp('10.0.0.2', '10.0.0.1', 9, T0),
            tcp('10.0.0.3', '10.0.0.2', 9, T0),
            tcp('10.0.0.3', '10.0.0.5', 9, T0),
          ]),
        );
        for (const obs of batches) {
          await pipe.ingest(batch(obs));
          for (const f of filters) {
            if (!fastFilter(f)) continue;
            const graph = buildGraph(buildIntents(store, f));
            if (graph.nodes.some((n) => n.id.startsWith('ext:'))) externals++;
            const body = compactIntentsJsonChunks(store, f);
            body.retain(); // as the response cache does
            const table = graphTable(store, f, body);
            const compact = streamed(new DefaultShapeStream(body, { table, full: false }), sizes);
            const want = JSON.stringify(compactGraph(graph));
            if (compact !== want) throw new Error(`compact graph (${JSON.stringify(f)}):\n${compact}\n${want}`);
            const full = streamed(new DefaultShapeStream(body, { table, full: true }), sizes);
            if (full !== JSON.stringify(graph))
              throw new Error(`default graph (${JSON.stringify(f)}):\n${full}\n${JSON.stringify(graph)}`);
            body.release();
          }
        }
        store.close();
      },
    ),
    { numRuns: 150 },
  );
  t.true(externals > 0, 'the generator produced external destinations');
  t.is(defaultShapeStreams.open, 0);
});

test('graphTable refuses a body of another store state and a body without an intents index', async (t) => {
  const store = openMapStore({ path: ':memory:' });
  const pipe = createIngestPipeline({ resolver: resolver(), store, clock: () => T0 });
  await pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
  const body = compactIntentsJsonChunks(store, {});
  await pipe.ingest(batch([tcp('10.0.0.3', '10.0.0.2', 80)]));
  t.throws(() => graphTable(store, {}, body), { message: /intents/ });
  t.throws(() => graphTable(store, {}, compactIntentsJsonChunks(store, { server: { name: 'a', namespace: 'b' } })), {
    message: /not a compact intents body/,
  });
  store.close();
});
