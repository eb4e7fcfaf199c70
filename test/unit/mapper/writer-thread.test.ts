/**
 * The map's writer thread (ADR 0100): the thread writer against the inline one as oracle over
 * random groups, asynchronous group commits (order, failure, duplicates in flight, reads and
 * close after them) and the batch-id filter that keeps the duplicate check off the writer.
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { WorkloadIdentity } from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import { BatchIdFilter } from '../../../mapper/store/batch-filter.ts';
import {
  type BatchDelta,
  buildIntents,
  type EdgeDelta,
  type MapStore,
  openMapStore,
  type WriterMode,
} from '../../../mapper/store/index.ts';
import { writerConnection } from '../../../mapper/store/writer-thread.ts';
import { batch, shopResolver, T0, tcp, tempDir } from './fixtures.ts';

const wl = (i: number, kind = 'Deployment'): WorkloadIdentity => ({
  name: `w-${i}`,
  namespace: `ns-${i % 3}`,
  kind,
  ...(i % 4 === 0 ? { labels: { app: `w-${i}` } } : {}),
});

const edge = (c: number, s: number, over: Partial<EdgeDelta> = {}): EdgeDelta => ({
  client: wl(c),
  server: wl(s),
  ports: [80],
  http: [],
  kafka: [],
  extIps: [],
  firstSeen: T0,
  lastSeen: T0,
  count: 1,
  ...over,
});

const delta = (edges: EdgeDelta[]): BatchDelta => ({ edges, acl: [], dnsAnswers: [] });

/** Everything a store holds that a reader can see, as one comparable value. */
function snapshot(s: MapStore): string {
  return JSON.stringify({ intents: buildIntents(s), acl: s.kafkaAcl(), edges: s.edgeCount });
}

const arbEdge = fc.record({
  c: fc.integer({ min: 0, max: 6 }),
  s: fc.integer({ min: 0, max: 6 }),
  port: fc.integer({ min: 1, max: 4 }),
  t: fc.integer({ min: 0, max: 1000 }),
  count: fc.integer({ min: 1, max: 5 }),
  http: fc.option(fc.constantFrom('/a', '/b'), { nil: undefined }),
  kind: fc.constantFrom('Deployment', 'StatefulSet'),
});
const arbGroup = fc.array(arbEdge, { minLength: 1, maxLength: 12 });

test('thread and inline writers build the same map and file from the same random groups (oracle)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(arbGroup, { minLength: 1, maxLength: 6 }), async (groups) => {
      const dir = tempDir();
      const stores: Record<WriterMode, MapStore> = {
        inline: openMapStore({ path: path.join(dir, 'inline.db'), writer: 'inline' }),
        thread: openMapStore({ path: path.join(dir, 'thread.db'), writer: 'thread' }),
      };
      const deltas = groups.map((g) =>
        delta(
          g
            .filter((e) => e.c !== e.s)
            .map((e) =>
              edge(e.c, e.s, {
                client: wl(e.c, e.kind),
                ports: [e.port],
                firstSeen: T0 + e.t,
                lastSeen: T0 + e.t,
                count: e.count,
                http: e.http ? [{ method: 'GET', path: e.http }] : [],
              }),
            ),
        ),
      );
      // The thread store gets every group at once (queued behind each other); the inline one in turn.
      const pending = deltas.map((d, i) => stores.thread.applyGroupAsync([{ batchId: `g${i}`, accepted: 1 }], d, T0));
      deltas.forEach((d, i) => {
        stores.inline.applyGroup([{ batchId: `g${i}`, accepted: 1 }], d, T0);
      });
      await Promise.all(pending);
      t.is(snapshot(stores.thread), snapshot(stores.inline));
      stores.inline.close();
      stores.thread.close();
      const again = {
        inline: openMapStore({ path: path.join(dir, 'inline.db'), writer: 'inline' }),
        thread: openMapStore({ path: path.join(dir, 'inline.db').replace('inline.db', 'thread.db') }),
      };
      t.is(snapshot(again.thread), snapshot(again.inline));
      t.deepEqual(again.thread.acceptedBatch('g0'), { duplicate: true, accepted: 1 });
      again.inline.close();
      again.thread.close();
    }),
    { numRuns: 12 },
  );
});

test('queued groups commit in order, each planned after the one before it committed', async (t) => {
  const s = openMapStore({ path: ':memory:' });
  const order: string[] = [];
  const a = s.applyGroupAsync([{ batchId: 'a', accepted: 1 }], delta([edge(1, 2, { count: 2 })]), T0);
  const b = s.applyGroupAsync([{ batchId: 'b', accepted: 1 }], delta([edge(1, 2, { ports: [443], count: 3 })]), T0);
  void a.then(() => order.push('a'));
  void b.then(() => order.push('b'));
  t.is(s.edgeCount, 0); // nothing in the mirror before a commit
  await Promise.all([a, b]);
  t.deepEqual(order, ['a', 'b']);
  const [it] = buildIntents(s);
  t.is(it?.count, 5);
  t.deepEqual(it?.ports, [80, 443]);
  t.is(s.edgeCount, 1);
  s.close();
});

/** A file whose `batches` table refuses ids starting with `boom` (a real SQLite failure in the writer). */
function boomDb(writer: WriterMode = 'thread'): { file: string; store: () => MapStore } {
  const file = path.join(tempDir(), 'boom.db');
  openMapStore({ path: file, writer: 'inline' }).close();
  const db = new Database(file);
  db.exec(`CREATE TRIGGER boom BEFORE INSERT ON batches WHEN NEW.batch_id LIKE 'boom%'
           BEGIN SELECT RAISE(ABORT, 'boom: disk said no'); END;`);
  db.close();
  return { file, store: () => openMapStore({ path: file, writer }) };
}

for (const writer of ['thread', 'inline'] as const) {
  test(`a failed group rejects with DB_WRITE_FAILED (503), writes nothing, and the next group commits (${writer})`, async (t) => {
    const { file, store } = boomDb(writer);
    const s = store();
    await s.applyGroupAsync([{ batchId: 'ok-1', accepted: 1 }], delta([edge(1, 2)]), T0);
    const v = s.version;
    const failed = s.applyGroupAsync(
      [
        { batchId: 'ok-2', accepted: 1 },
        { batchId: 'boom-1', accepted: 1 },
      ],
      delta([edge(1, 2, { count: 7 }), edge(3, 4)]),
      T0,
    );
    const next = s.applyGroupAsync([{ batchId: 'ok-3', accepted: 1 }], delta([edge(5, 6)]), T0);
    const err = await t.throwsAsync(failed);
    t.is((err as { code?: string }).code, 'DB_WRITE_FAILED');
    t.is((err as { status?: number }).status, 503);
    t.regex(err?.message ?? '', /boom: disk said no.*nothing of it was stored, retry/);
    await next;
    t.is(s.acceptedBatch('ok-2'), undefined);
    t.deepEqual(s.acceptedBatch('ok-3'), { duplicate: true, accepted: 1 });
    t.is(s.edgeCount, 2);
    t.true(s.version > v);
    t.is(buildIntents(s).find((i) => i.client.name === 'w-1')?.count, 1);
    s.close();
    const s2 = openMapStore({ path: file });
    t.is(s2.edgeCount, 2);
    t.is(buildIntents(s2).find((i) => i.client.name === 'w-1')?.count, 1);
    s2.close();
  });
}

test('pipeline: a retry of a batch whose group is being committed is answered duplicate:true and counted once', async (t) => {
  const store = openMapStore({ path: ':memory:' });
  const pipe = createIngestPipeline({ resolver: shopResolver(), store, clock: () => T0 });
  const b = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  const first = pipe.ingest(b);
  pipe.flush(); // the group is now in flight on the writer thread
  const retry = pipe.ingest(b);
  const [r1, r2] = await Promise.all([first, retry]);
  t.deepEqual(r1, { batchId: b.batchId, accepted: 1, duplicate: false });
  t.deepEqual(r2, { batchId: b.batchId, accepted: 1, duplicate: true });
  t.is(buildIntents(store)[0]?.count, 1);
  t.is(pipe.stats().batches, 1);
  t.is(pipe.stats().duplicates, 1);
  // and after the commit, from the store (the batch-id filter says "maybe", the writer confirms)
  t.true((await pipe.ingest(b)).duplicate);
  t.is(buildIntents(store)[0]?.count, 1);
  store.close();
});

test('pipeline: a retry waiting on a group that fails fails too; nothing is counted; the next try is stored once', async (t) => {
  const { store } = boomDb();
  const s = store();
  const pipe = createIngestPipeline({ resolver: shopResolver(), store: s, clock: () => T0 });
  const b = batch([tcp('10.0.0.1', '10.0.0.2', 80)], 'boom-retry');
  const first = pipe.ingest(b);
  pipe.flush();
  const retry = pipe.ingest(b);
  const results = await Promise.allSettled([first, retry]);
  t.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  t.is(pipe.stats().batches, 0);
  t.is(s.edgeCount, 0);
  const ok = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  t.false((await pipe.ingest(ok)).duplicate);
  t.is(buildIntents(s)[0]?.count, 1);
  s.close();
});

test('pipeline: batches arriving while a group commits are committed together next', async (t) => {
  const store = openMapStore({ path: ':memory:' });
  const sizes: number[] = [];
  const orig = store.applyGroupAsync.bind(store);
  store.applyGroupAsync = (b, d, n) => {
    sizes.push(b.length);
    return orig(b, d, n);
  };
  const pipe = createIngestPipeline({ resolver: shopResolver(), store, clock: () => T0 });
  const first = pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
  pipe.flush();
  // later event-loop turns, while the first group is (normally) still in flight
  const later: Promise<unknown>[] = [];
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    later.push(pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.3', 80 + i)])));
  }
  await Promise.all([first, ...later]);
  t.is(
    sizes.reduce((a, n) => a + n, 0),
    4,
  );
  t.is(sizes[0], 1);
  t.deepEqual(buildIntents(store).find((i) => i.server?.name === 'payments')?.ports, [80, 81, 82]);
  store.close();
});

test('synchronous reads and reset run after the groups posted before them', async (t) => {
  const s = openMapStore({ path: ':memory:' });
  const acl = {
    client: { name: 'a', namespace: 'x' },
    server: { name: 'b', namespace: 'x' },
    resourceType: 'Group',
    resourceName: 'g',
    patternType: 'LITERAL',
    operation: 'read',
    allowed: true,
    principal: 'User:a',
    firstSeen: T0,
    lastSeen: T0,
    count: 1,
  };
  const p = s.applyGroupAsync([{ batchId: 'a', accepted: 1 }], { edges: [edge(1, 2)], acl: [acl], dnsAnswers: [] }, T0);
  t.is(s.kafkaAcl().length, 1); // waits for the commit above
  t.is(s.edgeCount, 1);
  const q = s.applyGroupAsync([{ batchId: 'b', accepted: 1 }], delta([edge(3, 4)]), T0);
  t.is(s.reset(), 3); // two edges + one ACL record, the second group included
  t.is(s.edgeCount, 0);
  await Promise.all([p, q]);
  t.is(s.edgeCount, 0);
  s.close();
});

test('close commits what is in flight and queued, answers it, and the reopened map has it', async (t) => {
  const file = path.join(tempDir(), 'close.db');
  const s = openMapStore({ path: file });
  const ps = [1, 2, 3].map((i) => s.applyGroupAsync([{ batchId: `c${i}`, accepted: 1 }], delta([edge(i, i + 1)]), T0));
  s.close();
  await Promise.all(ps);
  await t.throwsAsync(s.applyGroupAsync([{ batchId: 'late', accepted: 1 }], delta([edge(7, 8)]), T0), {
    message: /closed/,
  });
  const s2 = openMapStore({ path: file });
  t.is(s2.edgeCount, 3);
  t.deepEqual(s2.acceptedBatch('c3'), { duplicate: true, accepted: 1 });
  t.is(s2.acceptedBatch('never'), undefined);
  s2.close();
});

// Serial (ava runs serial tests first, alone): it kills the thread every store of this process shares.
test.serial(
  'a writer thread that dies: the store reports itself closed (readyz), writes are 503s, a reopen keeps the map',
  async (t) => {
    const file = path.join(tempDir(), 'dead.db');
    const s = openMapStore({ path: file });
    await s.applyGroupAsync([{ batchId: 'before', accepted: 1 }], delta([edge(1, 2)]), T0);
    t.true(s.isOpen());
    await writerConnection().thread.terminate();
    t.false(s.isOpen());
    const err = await t.throwsAsync(s.applyGroupAsync([{ batchId: 'after', accepted: 1 }], delta([edge(3, 4)]), T0));
    t.is((err as { code?: string }).code, 'DB_WRITER_FAILED');
    t.is((err as { status?: number }).status, 503);
    t.is(s.edgeCount, 1);
    s.close(); // no throw: nothing left to close
    // the connection died with the thread (lock released): a new store on a new thread has the map
    const s2 = openMapStore({ path: file });
    t.is(s2.edgeCount, 1);
    t.deepEqual(s2.acceptedBatch('before'), { duplicate: true, accepted: 1 });
    t.is(s2.acceptedBatch('after'), undefined);
    s2.close();
  },
);

// Serial: it kills the thread every store of this process shares.
test.serial(
  'a writer thread that dies while the main thread is blocked on it: the blocked call fails at once with DB_WRITER_FAILED (503), not after the 60 s timeout',
  async (t) => {
    const file = path.join(tempDir(), 'dies-while-waited.db');
    const s = openMapStore({ path: file });
    await s.applyGroupAsync([{ batchId: 'kept', accepted: 1 }], delta([edge(1, 2)]), T0);
    const { thread } = writerConnection();
    thread.send({ op: 'crash', conn: 0 }, () => {});
    const t0 = Date.now();
    const err = t.throws(() => s.kafkaAcl()); // blocks in Atomics.wait: the Worker 'exit' event cannot arrive
    t.true(Date.now() - t0 < 10_000, `the blocked call waited ${Date.now() - t0} ms`);
    t.is((err as { code?: string }).code, 'DB_WRITER_FAILED');
    t.is((err as { status?: number }).status, 503);
    t.true(thread.dead);
    t.false(s.isOpen());
    s.close();
    const s2 = openMapStore({ path: file });
    t.is(s2.edgeCount, 1);
    t.deepEqual(s2.acceptedBatch('kept'), { duplicate: true, accepted: 1 });
    s2.close();
  },
);

test('batch-id filter: every id still in the window is reported (superset), old ones are forgotten, few false hits', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 300 }), (ids) => {
      const f = new BatchIdFilter(100);
      for (const id of ids) f.add(id);
      for (const id of ids.slice(-100)) t.true(f.mayHave(id), id);
      t.is(f.size, Math.min(ids.length, 100));
    }),
  );
  const f = new BatchIdFilter(200_000);
  for (let i = 0; i < 200_000; i++) f.add(`batch-${i}`);
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (f.mayHave(`other-${i}`)) hits++;
  t.true(hits < 2_000, `${hits} false hits in 100,000`);
  for (let i = 200_000; i < 400_000; i++) f.add(`batch-${i}`);
  let old = 0;
  for (let i = 0; i < 100_000; i++) if (f.mayHave(`batch-${i}`)) old++;
  t.true(old < 2_000, `${old} of 100,000 evicted ids still reported`);
  for (let i = 200_000; i < 400_000; i += 997) t.true(f.mayHave(`batch-${i}`));
});

test('batch-id filter: failed groups do not push committed ids out of it (a retry stays a duplicate, not a 409)', async (t) => {
  // Reviewer finding: every planned group's ids were added to the filter's ring, failed ones too,
  // so a long run of failing commits (disk full, retried batches) evicted ids the database still
  // holds; a retry of one then missed the filter and failed its whole group with 409.
  const file = path.join(tempDir(), 'boom-ring.db');
  openMapStore({ path: file, writer: 'inline' }).close();
  const db = new Database(file);
  db.exec(`CREATE TRIGGER boom BEFORE INSERT ON batches WHEN NEW.batch_id LIKE 'boom%'
           BEGIN SELECT RAISE(ABORT, 'boom: disk said no'); END;`);
  db.close();
  const s = openMapStore({ path: file, batchRetentionCount: 10 });
  await s.applyGroupAsync([{ batchId: 'ok-old', accepted: 3 }], delta([edge(1, 2)]), T0);
  // more failed ids than the filter's margin over the retention count (10 + 2 * 512 + 65,536)
  for (let g = 0; g < 70; g++) {
    const ids = Array.from({ length: 1000 }, (_, i) => ({ batchId: `boom-${g}-${i}`, accepted: 1 }));
    await t.throwsAsync(s.applyGroupAsync(ids, delta([edge(3, 4)]), T0), { code: 'DB_WRITE_FAILED' });
  }
  t.deepEqual(s.acceptedBatch('ok-old'), { duplicate: true, accepted: 3 });
  const p = createIngestPipeline({ resolver: shopResolver(), store: s, clock: () => T0 });
  const [again, other] = await Promise.all([
    p.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)], 'ok-old')),
    p.ingest(batch([tcp('10.0.0.1', '10.0.0.3', 80)], 'new-1')),
  ]);
  t.true(again.duplicate);
  t.false(other.duplicate);
  s.close();
});
