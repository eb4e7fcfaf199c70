/**
 * The SQL side of the durable map, shared by the two writers (ADR 0100): the store's own
 * connection (`writer: 'inline'`) and the writer thread (`writer: 'thread'`, the product default,
 * `writer-thread.ts`). A group commit is described by a `GroupSql`: plain arrays of row values
 * planned on the main thread against the committed in-memory mirror, cheap to post to a worker.
 */
import type Database from 'better-sqlite3';
import { CallmapError } from '../contract/errors.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import type { DnsAnswer, KafkaAclRecord } from './types.ts';

/** Rows per multi-row INSERT / UPDATE statement (9 + 4 and 3 parameters per row). */
export const CHUNK = 64;
/** Batch ids (and expired DNS answers) are pruned once every this many accepted batches. */
export const PRUNE_EVERY = 512;
/** Columns of one `inserts` row. */
export const INSERT_COLS = 12;
/** Columns of the `edges` row (the first 9 of an `inserts` row); the last 3 go to `edge_stats` with the id. */
const EDGE_COLS = 9;
const EDGE_INSERT = `INSERT INTO edges (id, client_ns, client_name, server_ns, server_name, via_ns, via_name,
  ext_domain, ports) VALUES`;
const STATS_INSERT = 'INSERT INTO edge_stats (id, first_seen, last_seen, count) VALUES';
const rows = (n: number, cols: number): string =>
  Array.from({ length: n }, () => `(${Array.from({ length: cols }, () => '?').join(', ')})`).join(', ');

/** One group commit as flat row arrays (column order noted per field). */
export interface GroupSql {
  batchIds: string[];
  accepted: number[];
  now: number;
  /** Run the batch-id / DNS-answer pruning in this transaction. */
  prune: boolean;
  /** New edges, `INSERT_COLS` values per row: id, client ns/name, server ns/name, via ns/name, ext domain, ports, first, last, count. */
  inserts: unknown[];
  /**
   * Changed edges without port changes, 4 per row: id, first, last, count (absolute values). Only
   * last and count are written; first only for the rows listed in `firsts`.
   */
  updates: Float64Array;
  /** Rows of `updates` whose first_seen moved earlier, 2 per row: id, first. */
  firsts: number[];
  /** Changed edges with a new port list, 5 per row: first, last, count, ports, id. */
  portUpdates: unknown[];
  /** New or changed workload identities, 4 per row: namespace, name, kind, labels JSON. */
  workloads: string[];
  /** 3 per row: edge id, method, path. */
  http: unknown[];
  /** 4 per row: edge id, topic, operation, allowed (0/1). */
  kafka: unknown[];
  /** 2 per row: edge id, ip. */
  extIps: unknown[];
  acl: KafkaAclRecord[];
  dns: DnsAnswer[];
}

export interface Retention {
  ms: number;
  count: number;
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Pragmas of the map connection (ADR 0030): exclusive lock, WAL, sync mode; takes the write lock now. */
export function configureConnection(db: Database.Database, path: string, sync: string): void {
  // Exclusive locking: one mapper process owns the file; a second one fails with DB_LOCKED
  // instead of silently interleaving writes. Must be set before WAL is entered.
  db.pragma('locking_mode = EXCLUSIVE');
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (path !== ':memory:' && String(mode).toLowerCase() !== 'wal') {
    throw new CallmapError('DB_OPEN_FAILED', `could not switch ${path} to WAL mode (got ${String(mode)})`);
  }
  db.pragma(`synchronous = ${sync.toUpperCase()}`);
  db.pragma('foreign_keys = ON');
  // Take the write lock now so a second mapper fails at start-up, not on its first ingest.
  db.exec('BEGIN EXCLUSIVE; COMMIT;');
}

/** Runs the migrations the file has not had yet, each in its own transaction (schema.ts). */
export function migrate(db: Database.Database, path: string): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > SCHEMA_VERSION) {
    throw new CallmapError(
      'DB_SCHEMA_TOO_NEW',
      `database ${path} has schema version ${current}, newer than this callmap understands (${SCHEMA_VERSION}); upgrade callmap or use another --db path`,
      { details: { path, version: current } },
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function prepareStatements(db: Database.Database) {
  return {
    batchGet: db.prepare('SELECT accepted FROM batches WHERE batch_id = ?').pluck(),
    batchInsert: db.prepare('INSERT OR IGNORE INTO batches (batch_id, accepted_at, accepted) VALUES (?, ?, ?)'),
    batchPrune: db.prepare(
      'DELETE FROM batches WHERE accepted_at < ? OR seq <= (SELECT coalesce(max(seq), 0) FROM batches) - ?',
    ),
    workloadUpsert: db.prepare(
      `INSERT INTO workloads (namespace, name, kind, labels) VALUES (?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET kind = excluded.kind, labels = excluded.labels`,
    ),
    edgeInsert: db.prepare(`${EDGE_INSERT} ${rows(1, EDGE_COLS)}`),
    edgeInsertMany: db.prepare(`${EDGE_INSERT} ${rows(CHUNK, EDGE_COLS)}`),
    statsInsert: db.prepare(`${STATS_INSERT} ${rows(1, 4)}`),
    statsInsertMany: db.prepare(`${STATS_INSERT} ${rows(CHUNK, 4)}`),
    statsUpdate: db.prepare('UPDATE edge_stats SET last_seen = ?, count = ? WHERE id = ?'),
    // One statement per CHUNK edges; VALUES columns are column1..column3 = id, last, count.
    statsUpdateMany: db.prepare(
      `UPDATE edge_stats SET last_seen = v.column2, count = v.column3
         FROM (VALUES ${rows(CHUNK, 3)}) AS v
         WHERE edge_stats.id = v.column1`,
    ),
    statsFirst: db.prepare('UPDATE edge_stats SET first_seen = ? WHERE id = ?'),
    statsSet: db.prepare('UPDATE edge_stats SET first_seen = ?, last_seen = ?, count = ? WHERE id = ?'),
    edgePorts: db.prepare('UPDATE edges SET ports = ? WHERE id = ?'),
    httpInsert: db.prepare('INSERT OR IGNORE INTO edge_http (edge_id, method, path) VALUES (?, ?, ?)'),
    kafkaInsert: db.prepare(
      'INSERT OR IGNORE INTO edge_kafka (edge_id, topic, operation, allowed) VALUES (?, ?, ?, ?)',
    ),
    extIpInsert: db.prepare('INSERT OR IGNORE INTO edge_ext_ips (edge_id, ip) VALUES (?, ?)'),
    aclUpsert: db.prepare(
      `INSERT INTO kafka_acl (client_ns, client_name, server_ns, server_name, resource_type, resource_name,
                                pattern_type, operation, allowed, principal, first_seen, last_seen, count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
           last_seen = max(last_seen, excluded.last_seen), count = count + excluded.count`,
    ),
    dnsUpsert: db.prepare(
      `INSERT INTO dns_answers (ip, domain, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (ip) DO UPDATE SET domain = excluded.domain, expires_at = max(expires_at, excluded.expires_at)`,
    ),
    dnsPrune: db.prepare('DELETE FROM dns_answers WHERE expires_at < ?'),
  };
}

/**
 * Writes one group in one transaction (`BEGIN IMMEDIATE` … `COMMIT`, with the connection's sync
 * mode). Throws (and writes nothing) when a batch id was already applied or SQLite fails.
 */
export function writeGroup(db: Database.Database, s: Statements, g: GroupSql, retention: Retention): void {
  db.transaction((): void => {
    for (let i = 0; i < g.batchIds.length; i++) {
      const id = g.batchIds[i] as string;
      if (s.batchInsert.run(id, g.now, g.accepted[i]).changes === 0) {
        throw new CallmapError(
          'BATCH_ALREADY_APPLIED',
          `batch ${id} was already applied; nothing of this group was written, retry it`,
          { status: 409 },
        );
      }
    }
    if (g.prune) {
      s.batchPrune.run(g.now - retention.ms, retention.count);
      s.dnsPrune.run(g.now - 3_600_000);
    }
    writeInserts(s, g.inserts);
    writeUpdates(s, g.updates);
    const f = g.firsts;
    for (let o = 0; o < f.length; o += 2) s.statsFirst.run(f[o + 1], f[o]);
    const pu = g.portUpdates;
    for (let o = 0; o < pu.length; o += 5) {
      s.statsSet.run(pu[o], pu[o + 1], pu[o + 2], pu[o + 4]);
      s.edgePorts.run(pu[o + 3], pu[o + 4]);
    }
    const w = g.workloads;
    for (let o = 0; o < w.length; o += 4) s.workloadUpsert.run(w[o], w[o + 1], w[o + 2], w[o + 3]);
    for (let o = 0; o < g.http.length; o += 3) s.httpInsert.run(g.http[o], g.http[o + 1], g.http[o + 2]);
    for (let o = 0; o < g.kafka.length; o += 4)
      s.kafkaInsert.run(g.kafka[o], g.kafka[o + 1], g.kafka[o + 2], g.kafka[o + 3]);
    for (let o = 0; o < g.extIps.length; o += 2) s.extIpInsert.run(g.extIps[o], g.extIps[o + 1]);
    for (const a of g.acl) {
      s.aclUpsert.run(
        a.client.namespace,
        a.client.name,
        a.server.namespace,
        a.server.name,
        a.resourceType,
        a.resourceName,
        a.patternType,
        a.operation,
        a.allowed ? 1 : 0,
        a.principal,
        a.firstSeen,
        a.lastSeen,
        a.count,
      );
    }
    for (const d of g.dns) s.dnsUpsert.run(d.ip, d.domain, d.expiresAt);
  }).immediate();
}

/** Copies `n` rows from `INSERT_COLS`-wide `rows` (from row `from`) into `out`: the edges part or the stats part. */
function insertRows(rows: readonly unknown[], from: number, n: number, stats: boolean, out: unknown[]): void {
  let k = 0;
  for (let i = from; i < from + n; i++) {
    const base = i * INSERT_COLS;
    if (stats) {
      out[k++] = rows[base];
      for (let j = EDGE_COLS; j < INSERT_COLS; j++) out[k++] = rows[base + j];
    } else {
      for (let j = 0; j < EDGE_COLS; j++) out[k++] = rows[base + j];
    }
  }
}

function writeInserts(s: Statements, rows: readonly unknown[]): void {
  const n = rows.length / INSERT_COLS;
  let i = 0;
  if (n >= CHUNK) {
    const e: unknown[] = new Array(CHUNK * EDGE_COLS);
    const st: unknown[] = new Array(CHUNK * 4);
    for (; i + CHUNK <= n; i += CHUNK) {
      insertRows(rows, i, CHUNK, false, e);
      s.edgeInsertMany.run(e);
      insertRows(rows, i, CHUNK, true, st);
      s.statsInsertMany.run(st);
    }
  }
  const e1: unknown[] = new Array(EDGE_COLS);
  const st1: unknown[] = new Array(4);
  for (; i < n; i++) {
    insertRows(rows, i, 1, false, e1);
    s.edgeInsert.run(e1);
    insertRows(rows, i, 1, true, st1);
    s.statsInsert.run(st1);
  }
}

/** `vals`: id, first, last, count per row; writes id, last, count (first: see `GroupSql.firsts`). */
function writeUpdates(s: Statements, vals: Float64Array): void {
  const width = CHUNK * 4;
  let o = 0;
  if (vals.length >= width) {
    const a: number[] = new Array(CHUNK * 3);
    for (; o + width <= vals.length; o += width) {
      for (let j = 0, k = o; j < CHUNK * 3; j += 3, k += 4) {
        a[j] = vals[k] as number;
        a[j + 1] = vals[k + 2] as number;
        a[j + 2] = vals[k + 3] as number;
      }
      s.statsUpdateMany.run(a);
    }
  }
  for (; o < vals.length; o += 4) s.statsUpdate.run(vals[o + 2], vals[o + 3], vals[o]);
}

type Row = Record<string, unknown>;

export function readKafkaAcl(db: Database.Database): KafkaAclRecord[] {
  return (db.prepare('SELECT * FROM kafka_acl ORDER BY client_ns, client_name').all() as Row[]).map((r) => ({
    client: { namespace: String(r['client_ns']), name: String(r['client_name']) },
    server: { namespace: String(r['server_ns']), name: String(r['server_name']) },
    resourceType: String(r['resource_type']),
    resourceName: String(r['resource_name']),
    patternType: String(r['pattern_type']),
    operation: String(r['operation']),
    allowed: Number(r['allowed']) === 1,
    principal: String(r['principal']),
    firstSeen: Number(r['first_seen']),
    lastSeen: Number(r['last_seen']),
    count: Number(r['count']),
  }));
}

export function readDnsAnswers(db: Database.Database, now: number): DnsAnswer[] {
  return (db.prepare('SELECT ip, domain, expires_at FROM dns_answers WHERE expires_at >= ?').all(now) as Row[]).map(
    (r) => ({ ip: String(r['ip']), domain: String(r['domain']), expiresAt: Number(r['expires_at']) }),
  );
}

/** Deletes the map (edges, details, workloads, Kafka ACL records; batch ids stay). Returns edges + ACL rows removed. */
export function resetMap(db: Database.Database): number {
  return db
    .transaction(() => {
      const edges = db.prepare('DELETE FROM edges').run().changes;
      db.exec('DELETE FROM edge_stats;');
      const acl = db.prepare('DELETE FROM kafka_acl').run().changes;
      db.exec('DELETE FROM edge_http; DELETE FROM edge_kafka; DELETE FROM edge_ext_ips;');
      db.exec('DELETE FROM workloads;');
      return edges + acl;
    })
    .immediate();
}
