/**
 * ADR 0101: the known-edge ingest path and the narrow `edge_stats` table, against the previous
 * path (`knownEdges: false`, every observation an `EdgeDelta`) as the oracle:
 * - random batch sequences (ports that are new or known, Services, cluster DNS names, times that
 *   move first_seen earlier, identity objects replaced by others with other labels, unresolved
 *   servers, self-calls, resets while batches wait for their group) give the same map, stats and
 *   database tables, and the fast path really is taken;
 * - a database written by schema 1 (hot columns in `edges`) opens with its values in `edge_stats`.
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { Observation, ReportBatch, WorkloadIdentity, WorkloadRef } from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import {
  type BatchDelta,
  buildIntents,
  type MapStore,
  MIGRATIONS,
  openMapStore,
  SCHEMA_VERSION,
} from '../../../mapper/store/index.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';
import { arbTcp, T0, tempDir } from './fixtures.ts';

const N = 5;
/** Workload i, label variant v (a replaced identity object with other labels). */
const ident = (i: number, v: number): WorkloadIdentity => ({
  name: `w-${i % 4}`,
  namespace: `ns-${i % 2}`,
  kind: 'Deployment',
  labels: { app: `w-${i}`, v: String(v) },
});

/** A resolver whose identity objects can be swapped (`relabel`), like a workload learning labels. */
function resolver(): { r: StaticResolver; relabel(i: number, v: number): void } {
  const ips: Record<string, { workload: WorkloadIdentity; service?: WorkloadRef }> = {};
  const names: Record<string, WorkloadIdentity> = {};
  const set = (i: number, v: number): void => {
    const w = ident(i, v);
    ips[`10.0.0.${i}`] = { workload: w };
    ips[`10.96.0.${i}`] = { workload: w, service: { name: `svc-${i}`, namespace: 'ns-0' } };
    names[`s${i}.ns-0.svc.cluster.local`] = w;
  };
  for (let i = 0; i < N; i++) set(i, 0);
  return { r: new StaticResolver({ ips, names }), relabel: set };
}

type Step =
  | { op: 'batch'; observations: Observation[] }
  | { op: 'relabel'; i: number; v: number }
  /** Ingests the next batch and resets the map before its group is flushed. */
  | { op: 'reset-pending'; observations: Observation[] };

const arbObs: fc.Arbitrary<Observation> = fc.oneof(
  {
    weight: 4,
    // s = N: an unknown server IP
    arbitrary: arbTcp({ clients: N, servers: N, ports: 2, minT: -50 }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ c: fc.nat(N - 1), s: fc.nat(N - 1), t: fc.nat(1000) }).map(
      ({ c, s, t }): Observation => ({
        kind: 'dns',
        clientIp: `10.0.0.${c}`,
        name: `s${s}.ns-0.svc.cluster.local`,
        ips: [`10.96.0.${s}`],
        time: T0 + t,
      }),
    ),
  },
);

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .array(arbObs, { minLength: 1, maxLength: 40, size: 'max' })
      .map((observations) => ({ op: 'batch' as const, observations })),
  },
  {
    weight: 1,
    arbitrary: fc.record({ i: fc.nat(N - 1), v: fc.nat(2) }).map(({ i, v }) => ({ op: 'relabel' as const, i, v })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(arbObs, { minLength: 1, maxLength: 10 })
      .map((observations) => ({ op: 'reset-pending' as const, observations })),
  },
);

function dump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, unknown> = {};
    for (const table of ['edges', 'edge_stats', 'edge_http', 'edge_ext_ips', 'workloads', 'batches']) {
      out[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
    }
    return JSON.stringify(out, (k, v) => (k === 'accepted_at' || k === 'seq' ? undefined : v));
  } finally {
    db.close();
  }
}

/** Counts the known-edge rows the store is handed. */
function countKnown(store: MapStore): { rows: number } {
  const seen = { rows: 0 };
  const orig = store.applyGroupAsync.bind(store);
  store.applyGroupAsync = (batches, delta: BatchDelta, now) => {
    seen.rows += delta.known?.n ?? 0;
    return orig(batches, delta, now);
  };
  return seen;
}

const batch = (id: string, observations: Observation[]): ReportBatch => ({
  batchId: id,
  reporter: { component: 'sniffer', instance: 't' },
  sentAt: T0,
  observations,
});

async function run(steps: Step[], file: string, knownEdges: boolean, writer: 'thread' | 'inline') {
  const store = openMapStore({ path: file, writer });
  const seen = countKnown(store);
  const { r, relabel } = resolver();
  const pipe = createIngestPipeline({ resolver: r, store, clock: () => T0, knownEdges });
  let n = 0;
  let pending: Array<Promise<unknown>> = [];
  for (const s of steps) {
    if (s.op === 'relabel') relabel(s.i, s.v);
    else if (s.op === 'reset-pending') {
      const p = pipe.ingest(batch(`b-${n++}`, s.observations));
      store.reset();
      pending.push(p);
    } else {
      // two at a time: batches share groups, and groups are planned while others commit
      pending.push(pipe.ingest(batch(`b-${n++}`, s.observations)));
      if (pending.length === 2) {
        await Promise.all(pending);
        pending = [];
      }
    }
  }
  await Promise.all(pending);
  const map = JSON.stringify({ intents: buildIntents(store), stats: pipe.stats(), edges: store.edgeCount });
  store.close();
  return { state: `${map}\n${dump(file)}`, knownRows: seen.rows };
}

for (const writer of ['thread', 'inline'] as const) {
  test(`known-edge path: same map, stats and database as the EdgeDelta path (random steps, ${writer} writer)`, async (t) => {
    let fastRows = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 16 }), async (steps) => {
        const dir = tempDir();
        const fast = await run(steps, path.join(dir, 'fast.db'), true, writer);
        const oracle = await run(steps, path.join(dir, 'oracle.db'), false, writer);
        t.is(oracle.knownRows, 0);
        fastRows += fast.knownRows;
        t.is(fast.state, oracle.state);
      }),
      { numRuns: 60 },
    );
    // the property is about the fast path: it must have been taken (and folded) many times
    t.true(fastRows > 500, `known-edge rows taken: ${fastRows}`);
  });
}

test('known-edge path: an observation on a new port, a replaced identity or an unknown edge goes the EdgeDelta way', async (t) => {
  const store = openMapStore({ path: ':memory:', writer: 'inline' });
  const seen = countKnown(store);
  const { r, relabel } = resolver();
  const pipe = createIngestPipeline({ resolver: r, store, clock: () => T0 });
  const tcp = (c: number, s: number, port: number, dt: number): Observation => ({
    kind: 'tcp',
    clientIp: `10.0.0.${c}`,
    serverIp: `10.0.0.${s}`,
    serverPort: port,
    source: 'capture',
    time: T0 + dt,
  });
  await pipe.ingest(batch('a', [tcp(0, 1, 80, 10)]));
  t.is(seen.rows, 0, 'a new edge is a delta');
  await pipe.ingest(batch('b', [tcp(0, 1, 80, 20), tcp(0, 1, 80, 5)]));
  t.is(seen.rows, 2, 'a known edge on a known port is a row');
  await pipe.ingest(batch('c', [tcp(0, 1, 81, 30)]));
  t.is(seen.rows, 2, 'a new port is a delta');
  relabel(1, 1);
  await pipe.ingest(batch('d', [tcp(0, 1, 80, 40)]));
  t.is(seen.rows, 2, 'a server identity not stored yet is a delta');
  await pipe.ingest(batch('e', [tcp(0, 1, 81, 50)]));
  t.is(seen.rows, 3, 'once stored, it is a row again');
  const e = [...store.edges()][0];
  t.like(e, { firstSeen: T0 + 5, lastSeen: T0 + 50, count: 6, ports: [80, 81] });
  store.close();
});

test('schema 2: a database written with schema 1 keeps its edges, times and counts (now in edge_stats)', (t) => {
  const file = path.join(tempDir(), 'v1.db');
  const db = new Database(file);
  db.exec(MIGRATIONS[0] as string);
  db.pragma('user_version = 1');
  db.prepare(`INSERT INTO workloads VALUES ('ns', 'a', 'Deployment', '{}'), ('ns', 'b', 'Deployment', '{}')`).run();
  db.prepare(
    `INSERT INTO edges (id, client_ns, client_name, server_ns, server_name, ports, first_seen, last_seen, count)
     VALUES (7, 'ns', 'a', 'ns', 'b', '80,443', ?, ?, 42)`,
  ).run(T0, T0 + 99);
  db.prepare(`INSERT INTO edge_http VALUES (7, 'GET', '/x')`).run();
  db.close();

  const store = openMapStore({ path: file, writer: 'inline' });
  const [e] = [...store.edges()];
  t.like(e, { id: 7, firstSeen: T0, lastSeen: T0 + 99, count: 42, ports: [80, 443] });
  t.deepEqual([...(e?.http?.values() ?? [])], [{ method: 'GET', path: '/x' }]);
  store.close();

  const check = new Database(file, { readonly: true });
  t.is(Number(check.pragma('user_version', { simple: true })), SCHEMA_VERSION);
  const cols = (check.prepare('PRAGMA table_info(edges)').all() as Array<{ name: string }>).map((c) => c.name);
  t.false(cols.includes('first_seen') || cols.includes('last_seen') || cols.includes('count'));
  t.deepEqual(check.prepare('SELECT * FROM edge_stats').all(), [
    { id: 7, first_seen: T0, last_seen: T0 + 99, count: 42 },
  ]);
  check.close();
});

test('known-edge path: a later observation of the same edge in the group with another identity object joins the earlier rows (first client kept, as before)', async (t) => {
  const tcp = (c: number, s: number, dt: number): Observation => ({
    kind: 'tcp',
    clientIp: `10.0.0.${c}`,
    serverIp: `10.0.0.${s}`,
    serverPort: 1,
    source: 'capture',
    time: T0 + dt,
  });
  const out: string[] = [];
  for (const knownEdges of [true, false]) {
    const dir = tempDir();
    const file = path.join(dir, 'x.db');
    const store = openMapStore({ path: file, writer: 'thread' });
    const seen = countKnown(store);
    const { r } = resolver();
    const pipe = createIngestPipeline({ resolver: r, store, clock: () => T0, knownEdges });
    await pipe.ingest(batch('a', [tcp(0, 1, 1)]));
    // 10.0.0.0 and 10.0.0.4 are the same workload (ns-0/w-0) with other labels: .0's identity is
    // stored, .4's is not. One group: a row for .0 first, then a delta for .4 on the same edge.
    await Promise.all([pipe.ingest(batch('b', [tcp(0, 1, 2)])), pipe.ingest(batch('c', [tcp(4, 1, 3)]))]);
    t.is(seen.rows, knownEdges ? 1 : 0);
    out.push(`${JSON.stringify(buildIntents(store))}`);
    store.close();
    out.push(dump(file));
  }
  t.is(out[0], out[2]);
  t.is(out[1], out[3]);
});

test('known-edge path: a cached pair whose identity the store has since replaced goes the EdgeDelta way again', async (t) => {
  const tcp = (c: number, dt: number): Observation => ({
    kind: 'tcp',
    clientIp: `10.0.0.${c}`,
    serverIp: '10.0.0.1',
    serverPort: 1,
    source: 'capture',
    time: T0 + dt,
  });
  const out: string[] = [];
  for (const knownEdges of [true, false]) {
    const file = path.join(tempDir(), 'x.db');
    const store = openMapStore({ path: file, writer: 'inline' });
    const seen = countKnown(store);
    const { r } = resolver();
    const pipe = createIngestPipeline({ resolver: r, store, clock: () => T0, knownEdges });
    await pipe.ingest(batch('a', [tcp(0, 1)]));
    await pipe.ingest(batch('b', [tcp(0, 2)])); // a row: the pair is cached with its record
    await pipe.ingest(batch('c', [tcp(4, 3)])); // 10.0.0.4: the same workload, other labels, stored now
    await pipe.ingest(batch('d', [tcp(0, 4)])); // 10.0.0.0's identity is no longer the stored one
    t.is(seen.rows, knownEdges ? 1 : 0);
    out.push(JSON.stringify(buildIntents(store)));
    store.close();
    out.push(dump(file));
  }
  t.is(out[0], out[2]);
  t.is(out[1], out[3]);
});
