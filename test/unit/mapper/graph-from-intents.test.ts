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
import type { Resolution, Resolver } from '../../../mapper/k8s/types.ts';
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
import { batch, shopResolver, T0, tcp, W } from './fixtures.ts';

const filters: IntentsFilter[] = [
  {},
  { external: true },
  { namespaces: ['shop'] },
  { namespaces: ['billing', 'data'], external: true },
  { excludeLabels: [{ key: 'app', value: 'checkout' }] },
];

/** The workload checkout seen as a StatefulSet with other labels: the store replaces its identity. */
const twin = { name: 'checkout', namespace: 'shop', kind: 'StatefulSet', labels: { app: 'twin' } };

/** The shop cluster, plus 10.0.0.5 resolving to the twin. */
function resolver(): Resolver {
  const shop = shopResolver();
  const twinAt: Resolution = { ok: true, workload: twin };
  return {
    resolveIp: (ip, at) => (ip === '10.0.0.5' ? twinAt : shop.resolveIp(ip, at)),
    resolveDnsName: (name, answers, at, ns) => shop.resolveDnsName(name, answers, at, ns),
    isClusterName: (name) => shop.isClusterName(name),
    resolvePod: (pod, at) => shop.resolvePod(pod, at),
    resolveWorkloadName: (ref) => shop.resolveWorkloadName(ref),
    ready: () => true,
  };
}

const ADDRS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.96.0.2', '52.1.1.1', '52.1.1.2'];
const PEERS = [W.frontend, W.checkout, W.payments, W.kafka];
/** tcp between any addresses, Istio http between workloads (multi-byte paths), DNS answers naming outside hosts. */
const obsArb: fc.Arbitrary<Observation> = fc
  .tuple(fc.nat(2), fc.nat(ADDRS.length - 1), fc.nat(ADDRS.length - 1), fc.nat(3), fc.nat(100))
  .map(([kind, a, b, p, dt]): Observation => {
    if (kind === 0) return tcp(ADDRS[a] as string, ADDRS[b] as string, 1 + p, T0 + dt);
    if (kind === 1) {
      const path = ['/a', '/é', undefined][p % 3];
      return {
        kind: 'http',
        client: PEERS[a % 3] as (typeof PEERS)[number],
        server: PEERS[b % 4] as (typeof PEERS)[number],
        ...(path ? { path, method: 'GET' } : {}),
        count: 1,
        time: T0,
      };
    }
    const name = p % 2 === 0 ? 'api.stripe.com' : 'x.example';
    return {
      kind: 'dns',
      clientIp: a % 2 === 0 ? '10.0.0.1' : '10.0.0.5',
      name,
      ips: [name === 'x.example' ? '52.1.1.2' : '52.1.1.1'],
      ttl: 60,
      time: T0,
    };
  });

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
