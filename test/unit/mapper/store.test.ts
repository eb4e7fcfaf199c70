import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { CallmapError } from '../../../mapper/contract/index.ts';
import { type BatchDelta, buildIntents, openMapStore, SCHEMA_VERSION } from '../../../mapper/store/index.ts';
import { T0, tempDir, W } from './fixtures.ts';

const delta = (over: Partial<BatchDelta> = {}): BatchDelta => ({
  edges: [
    {
      client: W.frontend,
      server: W.checkout,
      via: { name: 'checkout-svc', namespace: 'shop' },
      ports: [8080],
      http: [{ method: 'GET', path: '/cart' }],
      kafka: [],
      extIps: [],
      firstSeen: T0,
      lastSeen: T0 + 10,
      count: 3,
    },
  ],
  acl: [],
  dnsAnswers: [],
  ...over,
});

test('apply, then reopen: the map survives close and reopen with all details', (t) => {
  const file = path.join(tempDir(), 'map.db');
  const s1 = openMapStore({ path: file });
  t.false(s1.apply('b1', 1, delta(), T0).duplicate);
  s1.apply('b2', 1, delta({ edges: [{ ...delta().edges[0]!, ports: [9090], lastSeen: T0 + 50, count: 2 }] }), T0);
  s1.close();
  const s2 = openMapStore({ path: file });
  const [it] = buildIntents(s2);
  t.truthy(it);
  t.deepEqual(it?.ports, [8080, 9090]);
  t.deepEqual(it?.http, [{ path: '/cart', methods: ['GET'] }]);
  t.is(it?.count, 5);
  t.is(it?.firstSeen, T0);
  t.is(it?.lastSeen, T0 + 50);
  t.deepEqual(it?.client, W.frontend);
  t.deepEqual(it?.viaService, { name: 'checkout-svc', namespace: 'shop' });
  s2.close();
});

test('a batch id is applied once; the duplicate changes nothing and reports the original count', (t) => {
  const s = openMapStore({ path: ':memory:' });
  t.deepEqual(s.apply('same', 7, delta(), T0), { duplicate: false, accepted: 7 });
  const v = s.version;
  t.deepEqual(s.apply('same', 9, delta(), T0), { duplicate: true, accepted: 7 });
  t.is(s.version, v);
  t.is(buildIntents(s)[0]?.count, 3);
  t.deepEqual(s.acceptedBatch('same'), { duplicate: true, accepted: 7 });
  t.is(s.acceptedBatch('other'), undefined);
  s.close();
});

test('accepted batch ids are pruned by count', (t) => {
  const s = openMapStore({ path: ':memory:', batchRetentionCount: 10 });
  for (let i = 0; i < 600; i++) s.apply(`b${i}`, 0, { edges: [], acl: [], dnsAnswers: [] }, T0);
  t.is(s.acceptedBatch('b0'), undefined);
  t.truthy(s.acceptedBatch('b599'));
  s.close();
});

test('reset removes edges and ACL records and says how many', (t) => {
  const s = openMapStore({ path: ':memory:' });
  s.apply(
    'b1',
    2,
    delta({
      acl: [
        {
          client: W.frontend,
          server: W.kafka,
          resourceType: 'Group',
          resourceName: 'g1',
          patternType: 'LITERAL',
          operation: 'describe',
          allowed: true,
          principal: 'User:x',
          firstSeen: T0,
          lastSeen: T0,
          count: 1,
        },
      ],
    }),
    T0,
  );
  t.is(s.kafkaAcl().length, 1);
  let events = 0;
  s.onChange(() => events++);
  t.is(s.reset(), 2);
  t.is(s.edgeCount, 0);
  t.is(buildIntents(s).length, 0);
  t.is(events, 1);
  t.is(s.reset(), 0);
  s.close();
});

test('change listeners fire after a commit with the version and edge count', (t) => {
  const s = openMapStore({ path: ':memory:' });
  const seen: Array<{ version: number; edges: number }> = [];
  const off = s.onChange((c) => seen.push(c));
  s.apply('b1', 1, delta(), T0);
  off();
  s.apply('b2', 1, delta(), T0);
  t.deepEqual(seen, [{ version: 1, edges: 1 }]);
  s.close();
});

test('a file that is not SQLite is refused with DB_CORRUPT and advice', (t) => {
  const file = path.join(tempDir(), 'not.db');
  fs.writeFileSync(file, 'this is definitely not a database file, just some text that is long enough'.repeat(20));
  const e = t.throws(() => openMapStore({ path: file }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_CORRUPT');
  t.regex(e?.message ?? '', /not an SQLite database|corrupt/);
  t.regex(e?.message ?? '', /move it away|--db/);
});

test('a corrupted SQLite file is refused with DB_CORRUPT', (t) => {
  const file = path.join(tempDir(), 'corrupt.db');
  const s = openMapStore({ path: file, sync: 'normal' });
  for (let i = 0; i < 200; i++) {
    s.apply(`b${i}`, 1, delta({ edges: [{ ...delta().edges[0]!, client: { ...W.frontend, name: `c${i}` } }] }), T0);
  }
  s.close();
  const buf = fs.readFileSync(file);
  t.true(buf.length > 8192);
  // keep the header intact, scribble over the b-tree pages
  for (let i = 4096; i < buf.length; i += 7) buf[i] = (buf[i]! ^ 0x5a) & 0xff;
  fs.writeFileSync(file, buf);
  const e = t.throws(() => openMapStore({ path: file }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_CORRUPT');
});

test('a database held by another mapper is refused with DB_LOCKED', (t) => {
  const file = path.join(tempDir(), 'locked.db');
  const s1 = openMapStore({ path: file });
  const e = t.throws(() => openMapStore({ path: file, lockTimeoutMs: 50 }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_LOCKED');
  t.regex(e?.message ?? '', /another/);
  s1.close();
  const s2 = openMapStore({ path: file });
  t.true(s2.isOpen());
  s2.close();
});

test('a database from a newer callmap is refused with DB_SCHEMA_TOO_NEW', (t) => {
  const file = path.join(tempDir(), 'new.db');
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  raw.close();
  const e = t.throws(() => openMapStore({ path: file }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_SCHEMA_TOO_NEW');
});

test('a directory as --db path is refused with DB_OPEN_FAILED', (t) => {
  const e = t.throws(() => openMapStore({ path: tempDir() }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_OPEN_FAILED');
});

test('a missing parent directory gives DB_OPEN_FAILED', (t) => {
  const e = t.throws(() => openMapStore({ path: path.join(tempDir(), 'nope', 'x.db') }), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_OPEN_FAILED');
});

test('migrations set user_version and the DB is in WAL mode', (t) => {
  const file = path.join(tempDir(), 'wal.db');
  openMapStore({ path: file }).close();
  const raw = new Database(file, { readonly: true });
  t.is(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
});

test('writes after close fail with DB_CLOSED instead of crashing', (t) => {
  const s = openMapStore({ path: ':memory:' });
  s.close();
  const e = t.throws(() => s.apply('x', 1, delta(), T0), { instanceOf: CallmapError });
  t.is(e?.code, 'DB_CLOSED');
});

test('a known workload kind is not downgraded to Unknown, labels update', (t) => {
  const s = openMapStore({ path: ':memory:' });
  s.apply('b1', 1, delta(), T0);
  const unknown = { ...W.checkout, kind: 'Unknown', labels: {} };
  s.apply('b2', 1, delta({ edges: [{ ...delta().edges[0]!, server: unknown }] }), T0);
  t.is(s.workload(W.checkout)?.kind, 'Deployment');
  s.apply('b3', 1, delta({ edges: [{ ...delta().edges[0]!, client: { ...W.frontend, labels: { app: 'v2' } } }] }), T0);
  t.deepEqual(s.workload(W.frontend)?.labels, { app: 'v2' });
  s.close();
});

/** `n` plain edges w-i → w-(i+1) in namespace big, port 80 + (i % 3). */
const manyEdges = (n: number, t0: number, count: number, extraPort?: number): BatchDelta => ({
  edges: Array.from({ length: n }, (_, i) => ({
    client: { name: `w-${i}`, namespace: 'big', kind: 'Deployment' },
    server: { name: `w-${i + 1}`, namespace: 'big', kind: 'Deployment' },
    ports: extraPort !== undefined && i % 50 === 0 ? [80 + (i % 3), extraPort] : [80 + (i % 3)],
    http: [],
    kafka: [],
    extIps: [],
    firstSeen: t0 + i,
    lastSeen: t0 + i,
    count,
  })),
  acl: [],
  dnsAnswers: [],
});

test('multi-row writes: 150 new edges, then 150 updates (some with a new port) survive reopen', (t) => {
  const file = path.join(tempDir(), 'many.db');
  const s1 = openMapStore({ path: file });
  s1.applyGroup([{ batchId: 'a', accepted: 150 }], manyEdges(150, T0, 2), T0);
  s1.applyGroup([{ batchId: 'b', accepted: 150 }], manyEdges(150, T0 + 1000, 3, 9999), T0);
  const before = JSON.stringify(buildIntents(s1));
  t.is(s1.edgeCount, 150);
  s1.close();
  const s2 = openMapStore({ path: file });
  const intents = buildIntents(s2);
  t.is(JSON.stringify(intents), before);
  t.is(intents.length, 150);
  for (const it of intents) {
    const i = Number(it.client.name.slice(2));
    t.is(it.count, 5);
    t.is(it.firstSeen, T0 + i);
    t.is(it.lastSeen, T0 + 1000 + i);
    t.deepEqual(it.ports, i % 50 === 0 ? [80 + (i % 3), 9999] : [80 + (i % 3)]);
  }
  // New edges after reopen get fresh ids (no clash with the loaded ones).
  s2.applyGroup([{ batchId: 'c', accepted: 1 }], manyEdges(151, T0, 1), T0);
  t.is(s2.edgeCount, 151);
  s2.close();
  const s3 = openMapStore({ path: file });
  t.is(s3.edgeCount, 151);
  t.is(buildIntents(s3).find((it) => it.client.name === 'w-150')?.count, 1);
  s3.close();
});

test('a failed group commit writes nothing and leaves the mirror and later ids intact', (t) => {
  const file = path.join(tempDir(), 'fail.db');
  const s = openMapStore({ path: file });
  s.applyGroup([{ batchId: 'a', accepted: 1 }], manyEdges(70, T0, 1), T0);
  const v = s.version;
  const before = JSON.stringify(buildIntents(s));
  const err = t.throws(() =>
    s.applyGroup(
      [
        { batchId: 'b', accepted: 1 },
        { batchId: 'a', accepted: 1 },
      ],
      manyEdges(140, T0, 5, 7),
      T0,
    ),
  );
  t.is((err as CallmapError).code, 'BATCH_ALREADY_APPLIED');
  t.is(s.version, v);
  t.is(s.edgeCount, 70);
  t.is(JSON.stringify(buildIntents(s)), before);
  t.is(s.acceptedBatch('b'), undefined);
  s.applyGroup([{ batchId: 'b', accepted: 1 }], manyEdges(140, T0, 5, 7), T0);
  t.is(s.edgeCount, 140);
  s.close();
  const s2 = openMapStore({ path: file });
  t.is(s2.edgeCount, 140);
  t.is(
    buildIntents(s2).reduce((a, it) => a + it.count, 0),
    70 * 6 + 70 * 5,
  );
  s2.close();
});

test('the same new edge twice in one delta becomes one row with both counts', (t) => {
  const file = path.join(tempDir(), 'twice.db');
  const s = openMapStore({ path: file });
  const d = manyEdges(1, T0, 2);
  const e = d.edges[0]!;
  s.applyGroup(
    [{ batchId: 'a', accepted: 2 }],
    { ...d, edges: [e, { ...e, ports: [443], lastSeen: T0 + 9, count: 3 }] },
    T0,
  );
  t.is(s.edgeCount, 1);
  s.close();
  const s2 = openMapStore({ path: file });
  const [it] = buildIntents(s2);
  t.is(it?.count, 5);
  t.deepEqual(it?.ports, [80, 443]);
  t.is(it?.lastSeen, T0 + 9);
  t.is(s2.edgeCount, 1);
  s2.close();
});
