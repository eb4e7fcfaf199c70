/**
 * Default-shape bodies (`GET /api/v1/intents`, `GET /api/v1/graph` without `compact`) over 4 MiB
 * are streamed from the cached compact body as the socket drains (ADR 0039): a client that goes
 * away stops the stream, a paused reader holds it back, concurrent readers each get the whole body,
 * and a reader whose response started before a map change gets the body of the map it started on.
 */
import http from 'node:http';
import test from 'ava';
import { buildGraph, buildIntents, defaultShapeStreams } from '../../../mapper/store/index.ts';
import { batch, T0, tcp } from '../../unit/mapper/fixtures.ts';
import { startTestMapper, syntheticCluster, syntheticIp, type TestMapper } from './harness.ts';

const WORKLOADS = 6_000;
const EDGES = 60_000; // ≈ 16 MB of full intents JSON, ≈ 23 MB of full graph

const { resolver, edge } = syntheticCluster(WORKLOADS, (i) => ({
  app: `w-${i}`,
  tier: i % 3 === 0 ? 'web' : 'backend',
}));

let shared: Promise<TestMapper> | undefined;
/** One loaded mapper for the whole file (loading 60,000 edges takes a while). */
function mapper(): Promise<TestMapper> {
  shared ??= (async () => {
    const m = await startTestMapper({ resolver: resolver() });
    for (let b = 0; b < EDGES / 5000; b++) {
      const res = await m.post(batch(Array.from({ length: 5000 }, (_, i) => edge(b * 5000 + i))));
      if (res.status !== 202) throw new Error(`ingest ${res.status}`);
    }
    return m;
  })();
  return shared;
}
test.after.always(async () => {
  if (shared) await (await shared).close();
});

const reference = (m: TestMapper, p: string): Buffer => {
  const q = new URL(p, 'http://x').searchParams;
  const f = q.get('namespaces') ? { namespaces: (q.get('namespaces') as string).split(',') } : {};
  const intents = buildIntents(m.store, f);
  return Buffer.from(JSON.stringify(p.startsWith('/api/v1/graph') ? buildGraph(intents) : { intents }));
};

interface Held {
  res: http.IncomingMessage;
  req: http.ClientRequest;
  /** Reads the rest of the body. */
  finish(): Promise<Buffer>;
}

/** Starts a GET and stops reading after the headers. */
function hold(url: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.pause();
      const chunks: Buffer[] = [];
      resolve({
        res,
        req,
        finish: () =>
          new Promise<Buffer>((done, fail) => {
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => done(Buffer.concat(chunks)));
            res.on('error', fail);
            res.resume();
          }),
      });
    });
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

test.serial(
  'a large default body is streamed with its Content-Length; a paused reader holds the stream back',
  async (t) => {
    const m = await mapper();
    for (const p of ['/api/v1/intents', '/api/v1/graph']) {
      const want = reference(m, p);
      t.true(want.length > 8 * 1024 * 1024, `${p} is large (${want.length} bytes)`);
      const before = defaultShapeStreams.bytes;
      const h = await hold(`${m.url}${p}`);
      t.is(h.res.headers['content-length'], String(want.length));
      t.is(h.res.headers['transfer-encoding'], undefined);
      await sleep(300);
      // Socket buffers take some of it; the rest waits for the reader (backpressure).
      const produced = defaultShapeStreams.bytes - before;
      t.true(produced > 0);
      t.true(produced < want.length, `${p}: ${produced} of ${want.length} bytes produced for a paused reader`);
      t.is(defaultShapeStreams.open, 1);
      const got = await h.finish();
      t.true(got.equals(want), `${p}: streamed bytes differ from the reference encoder`);
      t.true(await until(() => defaultShapeStreams.open === 0));
    }
  },
);

test.serial('a client that goes away mid-body stops the stream and releases the compact body', async (t) => {
  const m = await mapper();
  const total = reference(m, '/api/v1/graph').length;
  const before = defaultShapeStreams.bytes;
  // The response has started (headers and the first chunks are out); the reader reads no more.
  const h = await hold(`${m.url}/api/v1/graph`);
  await sleep(200);
  const sent = defaultShapeStreams.bytes - before;
  t.log(`produced before the client left: ${sent} of ${total} bytes`);
  t.true(sent > 0);
  h.req.destroy();
  t.true(await until(() => defaultShapeStreams.open === 0), 'the stream was not closed after the client went away');
  const produced = defaultShapeStreams.bytes - before;
  t.true(produced < total, `${produced} of ${total} bytes produced for a client that left`);
  // At most the chunks queued ahead (2) and the one being written, after it left.
  t.true(produced - sent <= 3 * 1024 * 1024, `${produced - sent} bytes produced after the client left`);
  // The mapper still answers, with the whole body.
  const again = Buffer.from(await (await m.get('/api/v1/graph')).arrayBuffer());
  t.true(again.equals(reference(m, '/api/v1/graph')));
});

test.serial('many concurrent readers of the same query each get the whole body', async (t) => {
  const m = await mapper();
  const paths = ['/api/v1/intents', '/api/v1/graph'];
  const want = new Map(paths.map((p) => [p, reference(m, p)]));
  const held = await Promise.all(Array.from({ length: 12 }, (_, i) => hold(`${m.url}${paths[i % 2]}`)));
  t.is(defaultShapeStreams.open, 12);
  // Read them at different speeds: half at once, half after a pause.
  const bodies = await Promise.all(
    held.map(async (h, i) => {
      if (i % 4 >= 2) await sleep(200);
      return h.finish();
    }),
  );
  bodies.forEach((b, i) => {
    t.true(b.equals(want.get(paths[i % 2] as string) as Buffer), `reader ${i} got different bytes`);
  });
  t.true(await until(() => defaultShapeStreams.open === 0));
});

test.serial('a map change during a stream: each reader gets the body of the map its response started on', async (t) => {
  const m = await mapper();
  const oldIntents = reference(m, '/api/v1/intents');
  const oldGraph = reference(m, '/api/v1/graph');
  const a = await hold(`${m.url}/api/v1/intents`);
  const ag = await hold(`${m.url}/api/v1/graph`);
  // Change edges at the start, middle and end of the output, and add a new one.
  const changes = [edge(0, T0 + 50_000_000), edge(EDGES / 2, T0 + 50_000_001), edge(EDGES - 1, T0 + 50_000_002)];
  changes.push(tcp(syntheticIp(1), syntheticIp(5_999), 9999, T0 + 50_000_003));
  t.is((await m.post(batch(changes))).status, 202);
  const newIntents = reference(m, '/api/v1/intents');
  const newGraph = reference(m, '/api/v1/graph');
  t.false(newIntents.equals(oldIntents));
  const b = await hold(`${m.url}/api/v1/intents`);
  const bg = await hold(`${m.url}/api/v1/graph`);
  const [ga, gag, gb, gbg] = await Promise.all([a.finish(), ag.finish(), b.finish(), bg.finish()]);
  t.true(ga.equals(oldIntents), 'the intents stream started before the change has other bytes');
  t.true(gag.equals(oldGraph), 'the graph stream started before the change has other bytes');
  t.true(gb.equals(newIntents), 'the intents stream started after the change has other bytes');
  t.true(gbg.equals(newGraph), 'the graph stream started after the change has other bytes');
  t.true(await until(() => defaultShapeStreams.open === 0));
});

test.serial(
  'small default bodies (a namespace) are expanded once and cached; HEAD sends the length only',
  async (t) => {
    const m = await mapper();
    const p = '/api/v1/intents?namespaces=ns-3';
    const want = reference(m, p);
    t.true(want.length > 1000 && want.length < 4 * 1024 * 1024);
    const before = defaultShapeStreams.bytes;
    for (let i = 0; i < 3; i++) t.true(Buffer.from(await (await m.get(p)).arrayBuffer()).equals(want));
    // One expansion for three responses (the cached body serves the other two).
    t.is(defaultShapeStreams.bytes - before, want.length);
    const head = await fetch(`${m.url}/api/v1/graph`, { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(head.headers.get('content-length'), String(reference(m, '/api/v1/graph').length));
    t.true(await until(() => defaultShapeStreams.open === 0));
  },
);
