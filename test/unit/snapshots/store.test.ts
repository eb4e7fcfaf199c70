import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { openSnapshotStore, SNAPSHOT_SCHEMA_VERSION, snapshotDbPath } from '../../../mapper/snapshots/store.ts';
import { openMapStore } from '../../../mapper/store/sqlite-store.ts';
import type { EdgeDelta, MapStore } from '../../../mapper/store/types.ts';
import { wl } from './fixtures.ts';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-snap-'));

let seq = 0;
function feed(
  map: MapStore,
  edges: Array<Omit<Partial<EdgeDelta>, 'client' | 'server'> & { client: string; server?: string }>,
  now = 1000,
): void {
  map.apply(
    `b${++seq}`,
    edges.length,
    {
      edges: edges.map((e) => {
        const d: EdgeDelta = {
          client: wl(e.client),
          ports: e.ports ?? [],
          http: e.http ?? [],
          kafka: e.kafka ?? [],
          extIps: e.extIps ?? [],
          firstSeen: now,
          lastSeen: now,
          count: 1,
        };
        if (e.server) d.server = wl(e.server);
        if (e.extDomain) d.extDomain = e.extDomain;
        return d;
      }),
      acl: [],
      dnsAnswers: [],
    },
    now,
  );
}

function setup(t: import('ava').ExecutionContext, opts: { keep?: number; maxAgeMs?: number; dir?: string } = {}) {
  const map = openMapStore({ path: ':memory:' });
  let now = 1_000_000;
  const dir = opts.dir ?? tmp();
  const file = path.join(dir, 'callmap.snapshots.db');
  const snaps = openSnapshotStore({
    path: file,
    map,
    sync: 'normal',
    retention: { keep: opts.keep ?? 10, ...(opts.maxAgeMs !== undefined ? { maxAgeMs: opts.maxAgeMs } : {}) },
    clock: () => now,
  });
  t.teardown(() => {
    snaps.close();
    map.close();
  });
  return { map, snaps, file, advance: (ms: number) => (now += ms) };
}

test('snapshotDbPath derives a sibling file', (t) => {
  t.is(snapshotDbPath('/data/callmap.db'), '/data/callmap.snapshots.db');
  t.is(snapshotDbPath('/data/map'), '/data/map.snapshots.db');
  t.is(snapshotDbPath(':memory:'), ':memory:');
});

test('take freezes the map (edges, ports, HTTP, Kafka incl. denied, externals) with id, time, filter, totals', (t) => {
  const { map, snaps } = setup(t);
  feed(map, [
    { client: 'shop/frontend', server: 'shop/checkout', ports: [8080], http: [{ method: 'GET', path: '/cart' }] },
    {
      client: 'shop/checkout',
      server: 'data/kafka',
      kafka: [
        { topic: 'orders', operation: 'produce', allowed: true },
        { topic: 'orders', operation: 'consume', allowed: false },
      ],
    },
    { client: 'billing/payments', extDomain: 'api.stripe.com', ports: [443], extIps: ['52.1.1.1'] },
  ]);
  const s = snaps.take();
  t.is(s.id, 1);
  t.is(s.takenAt, 1_000_000);
  t.deepEqual(s.namespaces, []);
  t.is(s.trigger, 'api');
  t.is(s.mapVersion, map.version);
  t.is(s.intents.length, 3);
  t.deepEqual(s.totals, { edges: 3, workloads: 4, httpPaths: 1, kafkaTopics: 1, deniedKafka: 1, externals: 1 });
  t.deepEqual(s.intents.find((i) => i.external)?.external, { domain: 'api.stripe.com', ips: ['52.1.1.1'] });
  t.deepEqual(s.intents.find((i) => i.kafka.length > 0)?.kafka, [
    { topic: 'orders', operations: ['produce'], deniedOperations: ['consume'] },
  ]);
  t.deepEqual(snaps.get(1), s);

  const f = snaps.take({ namespaces: ['shop', 'shop'], trigger: 'schedule' });
  t.deepEqual(f.namespaces, ['shop']);
  t.is(f.trigger, 'schedule');
  t.deepEqual(
    f.intents.map((i) => i.client.namespace),
    ['shop', 'shop'],
  );
});

test('list is newest first without bodies; previous() follows the same namespace filter', (t) => {
  const { map, snaps, advance } = setup(t);
  feed(map, [{ client: 'shop/a', server: 'shop/b' }]);
  snaps.take();
  advance(1000);
  snaps.take({ namespaces: ['shop'] });
  advance(1000);
  snaps.take();
  const l = snaps.list();
  t.deepEqual(
    l.map((m) => m.id),
    [3, 2, 1],
  );
  t.false('intents' in (l[0] as object));
  t.is(snaps.previous(3)?.id, 1);
  t.is(snaps.previous(2), undefined);
  t.is(snaps.previous(1), undefined);
  t.is(snaps.previous(99), undefined);
  t.deepEqual(
    snaps.list(2).map((m) => m.id),
    [3, 2],
  );
});

test('retention keep N: oldest go, ids are never reused, the new snapshot always stays', (t) => {
  const { map, snaps } = setup(t, { keep: 2 });
  feed(map, [{ client: 'shop/a', server: 'shop/b' }]);
  for (let i = 0; i < 5; i++) snaps.take();
  t.deepEqual(
    snaps.list().map((m) => m.id),
    [5, 4],
  );
  t.is(snaps.get(3), undefined);
});

test('retention max age: older snapshots are dropped when a new one is taken, never the new one', (t) => {
  const { map, snaps, advance } = setup(t, { keep: 100, maxAgeMs: 10_000 });
  feed(map, [{ client: 'shop/a', server: 'shop/b' }]);
  snaps.take();
  advance(5_000);
  snaps.take();
  advance(6_000);
  snaps.take();
  t.deepEqual(
    snaps.list().map((m) => m.id),
    [3, 2],
  );
  advance(60_000);
  snaps.take();
  t.deepEqual(
    snaps.list().map((m) => m.id),
    [4],
  );
});

test('snapshots survive close and reopen; a second opener is refused while the file is held', (t) => {
  const dir = tmp();
  const map = openMapStore({ path: ':memory:' });
  t.teardown(() => map.close());
  feed(map, [{ client: 'shop/a', server: 'shop/b', ports: [80] }]);
  const file = path.join(dir, 's.db');
  const a = openSnapshotStore({ path: file, map });
  const taken = a.take();
  const err = t.throws(() => openSnapshotStore({ path: file, map }));
  t.is((err as { code?: string }).code, 'SNAPSHOT_DB_LOCKED');
  a.close();
  const b = openSnapshotStore({ path: file, map });
  t.teardown(() => b.close());
  t.deepEqual(b.get(taken.id), taken);
  t.is(b.take().id, 2);
});

test('unreadable stored rows: get fails with SNAPSHOT_CORRUPT, list skips and counts them', (t) => {
  const dir = tmp();
  const map = openMapStore({ path: ':memory:' });
  t.teardown(() => map.close());
  const file = path.join(dir, 's.db');
  const a = openSnapshotStore({ path: file, map });
  a.take();
  a.take();
  a.close();
  const raw = new Database(file);
  raw.prepare("UPDATE snapshots SET body = '{not json' WHERE id = 1").run();
  raw.prepare("UPDATE snapshots SET totals = 'garbage' WHERE id = 2").run();
  raw.close();
  const b = openSnapshotStore({ path: file, map });
  t.teardown(() => b.close());
  const e1 = t.throws(() => b.get(1));
  t.is((e1 as { code?: string }).code, 'SNAPSHOT_CORRUPT');
  t.regex((e1 as Error).message, /snapshot 1 has an unreadable body/);
  const e2 = t.throws(() => b.get(2));
  t.is((e2 as { code?: string }).code, 'SNAPSHOT_CORRUPT');
  t.deepEqual(
    b.list().map((m) => m.id),
    [1],
    'row 2 (unreadable summary) is skipped; row 1 lists fine, its body is only read by get',
  );
  t.is(b.skipped, 1);
});

test('open errors: directory, garbage file, newer schema, bad retention', (t) => {
  const map = openMapStore({ path: ':memory:' });
  t.teardown(() => map.close());
  const dir = tmp();
  t.is((t.throws(() => openSnapshotStore({ path: dir, map })) as { code?: string }).code, 'SNAPSHOT_DB_OPEN_FAILED');
  const garbage = path.join(dir, 'garbage.db');
  fs.writeFileSync(garbage, 'this is not sqlite at all, just text that is long enough to look like a header....');
  t.is((t.throws(() => openSnapshotStore({ path: garbage, map })) as { code?: string }).code, 'SNAPSHOT_DB_CORRUPT');
  const newer = path.join(dir, 'newer.db');
  const raw = new Database(newer);
  raw.pragma(`user_version = ${SNAPSHOT_SCHEMA_VERSION + 1}`);
  raw.close();
  t.is(
    (t.throws(() => openSnapshotStore({ path: newer, map })) as { code?: string }).code,
    'SNAPSHOT_DB_SCHEMA_TOO_NEW',
  );
  t.is(
    (t.throws(() => openSnapshotStore({ path: ':memory:', map, retention: { keep: 0 } })) as { code?: string }).code,
    'SNAPSHOT_BAD_RETENTION',
  );
});

test('a closed store refuses with SHUTTING_DOWN instead of crashing', (t) => {
  const { snaps } = setup(t);
  snaps.close();
  t.is((t.throws(() => snaps.take()) as { code?: string }).code, 'SHUTTING_DOWN');
  t.is((t.throws(() => snaps.list()) as { code?: string }).code, 'SHUTTING_DOWN');
});

test('a snapshot taken while a group commits on the writer thread has its edges and its ACL records, or neither, and that map version', async (t) => {
  // Reviewer finding (ADR 0100): freeze read the intents from the mirror, then `kafkaAcl()`, which
  // waits for the group in flight: the ACL records of a group were frozen without its edges.
  const { map, snaps } = setup(t);
  const aclRec = {
    client: { namespace: 'shop', name: 'checkout' },
    server: { namespace: 'data', name: 'kafka' },
    resourceType: 'Group',
    resourceName: 'g1',
    patternType: 'LITERAL',
    operation: 'Read',
    allowed: false,
    principal: 'User:checkout',
    firstSeen: 1000,
    lastSeen: 1000,
    count: 1,
  };
  const edge: EdgeDelta = {
    client: wl('shop/checkout'),
    server: wl('data/kafka'),
    ports: [9092],
    http: [],
    kafka: [],
    extIps: [],
    firstSeen: 1000,
    lastSeen: 1000,
    count: 1,
  };
  const committed = map.applyGroupAsync(
    [{ batchId: 'in-flight', accepted: 2 }],
    { edges: [edge], acl: [aclRec], dnsAnswers: [] },
    1000,
  );
  const s = snaps.take();
  await committed;
  t.is(s.kafkaAcl.length, s.intents.length, `${s.intents.length} intents, ${s.kafkaAcl.length} ACL records`);
  t.is(s.mapVersion, map.version);
});
