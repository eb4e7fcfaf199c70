import test from 'ava';
import fc from 'fast-check';
import {
  compactGraph,
  compactIntents,
  expandGraph,
  expandIntents,
  type Observation,
} from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import {
  buildGraph,
  buildIntents,
  ChunkWriter,
  compactIntentsJsonChunks,
  DefaultShapeStream,
  defaultShapeStreams,
  expandCompactBody,
  fastFilter,
  graphJsonChunks,
  type IntentsFilter,
  intentsJson,
  intentsJsonChunks,
  type JsonBody,
  openMapStore,
  POOL_MAX,
  pooledChunks,
} from '../../../mapper/store/index.ts';
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

test('property: the streamed intents, compact intents, graph and compact graph JSON equal serialising buildIntents / compactIntents / buildGraph / compactGraph, and the compact graph expands to the graph body, across updates', async (t) => {
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
            const compact = Buffer.concat([...compactIntentsJsonChunks(store, f).chunks]).toString();
            const compactSlow = JSON.stringify(compactIntents(buildIntents(store, f)));
            if (compact !== compactSlow)
              throw new Error(`compact mismatch for ${JSON.stringify(f)}:\n${compact}\n${compactSlow}`);
            t.deepEqual(expandIntents(JSON.parse(compact)), JSON.parse(slow));
            // The default shape streamed from a compact body (ADR 0039) is the reference's bytes.
            const cBody = compactIntentsJsonChunks(store, f);
            cBody.retain(); // as the response cache does (the stream releases what it retains)
            if ((cBody.index !== undefined) !== fastFilter(f))
              throw new Error(`index presence for ${JSON.stringify(f)}`);
            if (cBody.index !== undefined) {
              const streamed = Buffer.concat([...expandCompactBody(cBody).chunks]).toString();
              if (streamed !== slow)
                throw new Error(`streamed mismatch for ${JSON.stringify(f)}:\n${streamed}\n${slow}`);
              if (cBody.index.fullLength !== Buffer.byteLength(slow)) throw new Error('streamed length');
            }
            cBody.release();
            const graph = Buffer.concat([...graphJsonChunks(store, f).chunks]).toString();
            const graphSlow = JSON.stringify(buildGraph(buildIntents(store, f)));
            if (graph !== graphSlow)
              throw new Error(`graph mismatch for ${JSON.stringify(f)}:\n${graph}\n${graphSlow}`);
            // Compact graph (ADR 0038): the streamed bytes equal the reference encoder's, and
            // expanding them gives exactly the default graph body, byte for byte.
            const cGraph = Buffer.concat([...graphJsonChunks(store, f, true).chunks]).toString();
            const cGraphSlow = JSON.stringify(compactGraph(buildGraph(buildIntents(store, f))));
            if (cGraph !== cGraphSlow)
              throw new Error(`compact graph mismatch for ${JSON.stringify(f)}:\n${cGraph}\n${cGraphSlow}`);
            const cGraphBody = graphJsonChunks(store, f, true);
            cGraphBody.retain();
            if ((cGraphBody.index !== undefined) !== fastFilter(f))
              throw new Error(`graph index for ${JSON.stringify(f)}`);
            if (cGraphBody.index !== undefined) {
              const streamed = Buffer.concat([...expandCompactBody(cGraphBody).chunks]).toString();
              if (streamed !== graphSlow)
                throw new Error(`streamed graph mismatch for ${JSON.stringify(f)}:\n${streamed}\n${graphSlow}`);
              if (cGraphBody.index.fullLength !== Buffer.byteLength(graphSlow))
                throw new Error('streamed graph length');
            }
            cGraphBody.release();
            const expanded = JSON.stringify(expandGraph(JSON.parse(cGraph)));
            if (expanded !== graphSlow)
              throw new Error(`expanded graph mismatch for ${JSON.stringify(f)}:\n${expanded}\n${graphSlow}`);
            // The full shape without a copy source (what the API serves) has the same bytes.
            const noSource = Buffer.concat([...intentsJsonChunks(store, f, false).chunks]).toString();
            if (noSource !== slow) throw new Error(`no-source mismatch for ${JSON.stringify(f)}`);
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

test('ChunkWriter: chunks of at most 1 MiB (or one long string), multi-byte text intact, total length exact', (t) => {
  const w = new ChunkWriter();
  const parts: string[] = [];
  for (let i = 0; i < 40_000; i++) parts.push(`{"i":${i},"s":"ä€😀 ${'x'.repeat(i % 97)}"}`);
  parts.push('y'.repeat(1_500_000));
  for (const p of parts) w.write(p);
  const { chunks, length } = w.end();
  t.true(chunks.length > 2);
  t.true(chunks.slice(0, -1).every((c) => c.length <= ChunkWriter.CHUNK || c.length >= 1_500_000));
  const all = Buffer.concat(chunks);
  t.is(all.length, length);
  t.is(all.toString('utf8'), parts.join(''));
  t.is(new ChunkWriter().end().length, 0);
});

test('property: ChunkWriter copies (merged when adjacent, with or without a separator) and writes give the same bytes as plain concatenation', (t) => {
  // A source body over several chunks: items separated by commas, like an intents array.
  const sw = new ChunkWriter();
  const items: Array<{ at: number; len: number }> = [];
  for (let i = 0; i < 30_000; i++) {
    if (i > 0) sw.sep(0x2c);
    const at = sw.position;
    sw.write(`{"i":${i},"pad":"${'p'.repeat(i % 61)}"}`);
    items.push({ at, len: sw.position - at });
  }
  const body = sw.end();
  const bytes = Buffer.concat([...body.chunks]);
  t.true(body.chunks.length > 1);
  const starts: number[] = [];
  let n = 0;
  for (const c of body.chunks) {
    starts.push(n);
    n += c.length;
  }
  const src = { gen: 1, body, chunks: body.chunks, starts };
  const op = fc.oneof(
    fc.record({ k: fc.constant('run' as const), from: fc.nat(29_999), count: fc.integer({ min: 1, max: 9_000 }) }),
    fc.record({ k: fc.constant('write' as const), s: fc.string({ maxLength: 5 }) }),
    fc.record({ k: fc.constant('sep' as const), b: fc.constantFrom(0x2c, 0x3b) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
      const w = new ChunkWriter();
      const want: Buffer[] = [];
      for (const o of ops) {
        if (o.k === 'write') {
          w.write(o.s);
          want.push(Buffer.from(o.s));
        } else if (o.k === 'sep') {
          w.sep(o.b);
          want.push(Buffer.from([o.b]));
        } else {
          // A run of consecutive items with a separator between them, as an intents body copies them.
          for (let i = o.from; i < Math.min(items.length, o.from + o.count); i++) {
            const it = items[i] as { at: number; len: number };
            if (i > o.from) {
              w.sep(0x2c);
              want.push(Buffer.from(','));
            }
            const pos = w.position;
            w.copy(src, it.at, it.len);
            if (w.position !== pos + it.len) throw new Error('position does not count a pending copy');
            want.push(bytes.subarray(it.at, it.at + it.len));
          }
        }
      }
      const out = w.end();
      const got = Buffer.concat([...out.chunks]);
      if (got.length !== out.length) throw new Error('length mismatch');
      if (!got.equals(Buffer.concat(want))) throw new Error('bytes differ');
      if (!out.chunks.every((c) => c.length <= ChunkWriter.CHUNK)) throw new Error('chunk over 1 MiB');
    }),
    { numRuns: 150 },
  );
  // Adjacent items with a separator the source does not have between them: not merged over it.
  const [a, b] = items as [{ at: number; len: number }, { at: number; len: number }];
  const w = new ChunkWriter();
  w.copy(src, a.at, a.len);
  w.sep(0x3b);
  w.copy(src, b.at, b.len);
  t.is(
    Buffer.concat([...w.end().chunks]).toString(),
    `${bytes.subarray(a.at, a.at + a.len)};${bytes.subarray(b.at, b.at + b.len)}`,
  );
});

test('a response after a change copies unchanged edges from the last full body and re-serialises changed ones', async (t) => {
  const store = openMapStore({ path: ':memory:' });
  const pipe = createIngestPipeline({ resolver: shopResolver(), store, clock: () => T0 });
  await pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80), tcp('10.0.0.3', '10.0.0.4', 81, T0 + 5)]));
  const slow = (): string => JSON.stringify({ intents: buildIntents(store) });
  t.is(intentsJson(store).toString(), slow());
  // filtered bodies and graphs read the source but do not replace it
  t.is(
    intentsJson(store, { namespaces: ['shop'] }).toString(),
    JSON.stringify({ intents: buildIntents(store, { namespaces: ['shop'] }) }),
  );
  await pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 8080, T0 + 99)]));
  t.is(Buffer.concat([...graphJsonChunks(store).chunks]).toString(), JSON.stringify(buildGraph(buildIntents(store))));
  t.is(intentsJson(store).toString(), slow());
  t.regex(intentsJson(store).toString(), /"ports":\[80,8080\]/);
  await pipe.ingest(batch([tcp('10.0.0.3', '10.0.0.4', 82, T0 + 100)]));
  t.is(
    intentsJson(store, { external: true }).toString(),
    JSON.stringify({ intents: buildIntents(store, { external: true }) }),
  );
  t.is(intentsJson(store).toString(), slow());
  store.close();
});

test('a released body returns its chunks to the pool; a retained one keeps its bytes', (t) => {
  const fill = (ch: string): JsonBody => {
    const w = new ChunkWriter();
    for (let i = 0; i < 30; i++) w.write(ch.repeat(100_000));
    return w.end();
  };
  const only = (b: JsonBody, byte: number): boolean => b.chunks.every((c) => c.every((x) => x === byte));
  const a = fill('a');
  t.true(a.chunks.length >= 3);
  a.retain();
  a.retain();
  a.release();
  const before = pooledChunks();
  const b = fill('b'); // a is still held: its chunks are not reused
  t.true(only(a, 0x61));
  a.release();
  t.is(a.chunks.length, 0);
  t.true(pooledChunks() > before);
  b.retain();
  const c = fill('c'); // reuses a's chunks
  t.true(only(c, 0x63));
  t.true(only(b, 0x62));
  t.is(Buffer.concat([...c.chunks]).toString(), 'c'.repeat(3_000_000));
  b.release();
  b.release(); // extra releases are ignored
  t.pass();
});

test('property: the default shapes streamed in chunks of any size (items split into batches, parts larger than a chunk) are the reference bytes', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(obsArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 2, max: 3000 }), { minLength: 1, maxLength: 8 }),
      async (batches, sizes) => {
        const store = openMapStore({ path: ':memory:' });
        const pipe = createIngestPipeline({ resolver: shopResolver(), store, clock: () => T0 });
        for (const obs of batches) await pipe.ingest(batch(obs));
        for (const f of filters.filter(fastFilter)) {
          const want = [
            JSON.stringify({ intents: buildIntents(store, f) }),
            JSON.stringify(buildGraph(buildIntents(store, f))),
          ];
          const bodies = [compactIntentsJsonChunks(store, f), graphJsonChunks(store, f, true)];
          bodies.forEach((body, i) => {
            body.retain();
            const s = new DefaultShapeStream(body);
            const parts: Buffer[] = [];
            let n = 0;
            for (let c = s.next(sizes[n % sizes.length]); c !== undefined; c = s.next(sizes[++n % sizes.length])) {
              if (c.length === 0) throw new Error('empty chunk');
              parts.push(Buffer.from(c));
            }
            const got = Buffer.concat(parts).toString();
            if (got !== want[i])
              throw new Error(`chunked stream mismatch (${sizes}) for ${JSON.stringify(f)}:\n${got}\n${want[i]}`);
            if (s.length !== Buffer.byteLength(got)) throw new Error('length');
            body.release();
          });
        }
        store.close();
      },
    ),
    { numRuns: 40 },
  );
  t.is(defaultShapeStreams.open, 0);
});

test('a stream closed early releases its compact body; chunks given back go to the pool', (t) => {
  const store = openMapStore({ path: ':memory:' });
  // A filtered body (the full-map one is also kept as the next build's copy source).
  const body = compactIntentsJsonChunks(store, { namespaces: ['shop'] });
  body.retain();
  const open = defaultShapeStreams.open;
  const s = new DefaultShapeStream(body);
  t.is(defaultShapeStreams.open, open + 1);
  const c = s.next();
  t.truthy(c);
  s.close();
  s.close();
  t.is(defaultShapeStreams.open, open);
  t.is(s.next(), undefined);
  const before = pooledChunks();
  s.recycle(c as Buffer);
  t.is(pooledChunks(), Math.min(before + 1, POOL_MAX));
  t.true(body.held, 'the cache still holds it');
  body.release();
  t.false(body.held);
  store.close();
});
