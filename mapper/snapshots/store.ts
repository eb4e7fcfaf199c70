/**
 * Durable snapshots: their own SQLite file next to the map database (the map store holds its file
 * with an exclusive lock, see ADR 0090). A snapshot is committed before `take()` returns, so the
 * API acknowledges only what is on disk. Retention (keep N newest, drop older than max age) runs in
 * the same transaction as the insert and never removes the snapshot just taken.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { CallmapError } from '../contract/index.ts';
import { buildIntents } from '../store/intents.ts';
import type { MapStore } from '../store/types.ts';
import { summarize } from './diff.ts';
import type {
  Snapshot,
  SnapshotAclEntry,
  SnapshotBody,
  SnapshotMeta,
  SnapshotTotals,
  SnapshotTrigger,
} from './types.ts';

/** Applied in order; `PRAGMA user_version` of the snapshot file counts the applied ones. */
export const SNAPSHOT_MIGRATIONS: readonly string[] = [
  `
  -- AUTOINCREMENT: ids are never reused after retention deleted the newest ones.
  CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_at INTEGER NOT NULL,
    namespaces TEXT NOT NULL DEFAULT '', -- sorted, comma-separated; '' = all
    trigger TEXT NOT NULL,
    map_version INTEGER NOT NULL,
    totals TEXT NOT NULL,                -- JSON SnapshotTotals, for the list view
    body TEXT NOT NULL                   -- JSON SnapshotBody
  );
  CREATE INDEX snapshots_taken_at ON snapshots (taken_at);
  `,
];

export const SNAPSHOT_SCHEMA_VERSION = SNAPSHOT_MIGRATIONS.length;

export interface Retention {
  /** Keep at most this many snapshots (newest first). */
  keep: number;
  /** Drop snapshots older than this (ms); 0 or absent: no age limit. */
  maxAgeMs?: number;
}

export const DEFAULT_RETENTION: Retention = { keep: 168, maxAgeMs: 30 * 86_400_000 };

export interface SnapshotStoreOptions {
  /** Snapshot database file, or `:memory:`. See `snapshotDbPath`. */
  path: string;
  /** The map to freeze. */
  map: MapStore;
  /** `full` (default) fsyncs every commit, like the map database. */
  sync?: 'full' | 'normal';
  retention?: Retention;
  clock?: () => number;
}

export interface TakeOptions {
  namespaces?: readonly string[];
  trigger?: SnapshotTrigger;
}

export interface SnapshotStore {
  readonly path: string;
  /** Freezes the map now, commits, applies retention; returns the snapshot with its body. */
  take(opts?: TakeOptions): Snapshot;
  /** Newest first, without bodies. */
  list(limit?: number): SnapshotMeta[];
  get(id: number): Snapshot | undefined;
  meta(id: number): SnapshotMeta | undefined;
  /** The newest snapshot older than `id` with the same namespaces filter. */
  previous(id: number): SnapshotMeta | undefined;
  /** Rows skipped because their stored JSON was unreadable (list view). */
  readonly skipped: number;
  /** Counters for /metrics; kept in memory, so readable after `close()`. */
  stats(): SnapshotStats;
  close(): void;
}

/** What the mapper's /metrics reports about snapshots (read at scrape time). */
export interface SnapshotStats {
  /** Snapshots committed by this process, by trigger. */
  created: Record<SnapshotTrigger, number>;
  /** `take()` calls that threw (nothing committed), by trigger. */
  failed: Record<SnapshotTrigger, number>;
  /** Snapshots deleted by retention (keep / max age) in this process. */
  pruned: number;
  /** Snapshots in the database now. */
  stored: number;
  /** `takenAt` (ms) of the newest snapshot in the database, including ones from earlier runs; undefined: none. */
  lastSuccessAt: number | undefined;
}

/** `callmap.db` → `callmap.snapshots.db`; `:memory:` stays in memory. */
export function snapshotDbPath(mapDbPath: string): string {
  if (mapDbPath === ':memory:') return ':memory:';
  return mapDbPath.endsWith('.db') ? `${mapDbPath.slice(0, -3)}.snapshots.db` : `${mapDbPath}.snapshots.db`;
}

type Row = {
  id: number;
  taken_at: number;
  namespaces: string;
  trigger: string;
  map_version: number;
  totals: string;
  body?: string;
};

function corrupt(id: number, what: string, e: unknown): CallmapError {
  return new CallmapError(
    'SNAPSHOT_CORRUPT',
    `snapshot ${id} has an unreadable ${what} in the snapshot database (${(e as Error)?.message ?? e}); take a new snapshot or diff against another id`,
    { status: 500, details: { id } },
  );
}

function parseTotals(id: number, text: string): SnapshotTotals {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(id, 'summary', e);
  }
  const t = v as Partial<SnapshotTotals> | null;
  if (!t || typeof t !== 'object' || typeof t.edges !== 'number') throw corrupt(id, 'summary', 'not an object');
  return t as SnapshotTotals;
}

function parseBody(id: number, text: string): SnapshotBody {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(id, 'body', e);
  }
  const b = v as Partial<SnapshotBody> | null;
  if (!b || typeof b !== 'object' || !Array.isArray(b.intents) || !Array.isArray(b.kafkaAcl)) {
    throw corrupt(id, 'body', 'missing intents/kafkaAcl');
  }
  return b as SnapshotBody;
}

function toMeta(r: Row): SnapshotMeta {
  return {
    id: r.id,
    takenAt: r.taken_at,
    namespaces: r.namespaces === '' ? [] : r.namespaces.split(','),
    trigger: r.trigger === 'schedule' ? 'schedule' : 'api',
    mapVersion: r.map_version,
    totals: parseTotals(r.id, r.totals),
  };
}

function openError(path: string, e: unknown): CallmapError {
  if (e instanceof CallmapError) return e;
  const code = String((e as { code?: unknown })?.code ?? '');
  const msg = (e as Error)?.message ?? String(e);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CallmapError(
      'SNAPSHOT_DB_LOCKED',
      `snapshot database ${path} is locked by another process (is another mapper running on the same --db?)`,
      { cause: e },
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new CallmapError(
      'SNAPSHOT_DB_CORRUPT',
      `${path} is not a readable snapshot database (${msg}); move it away (and its -wal file) to start a new snapshot history`,
      { cause: e },
    );
  }
  return new CallmapError('SNAPSHOT_DB_OPEN_FAILED', `cannot open snapshot database ${path}: ${msg}`, { cause: e });
}

export function openSnapshotStore(opts: SnapshotStoreOptions): SnapshotStore {
  const { path, map } = opts;
  const clock = opts.clock ?? Date.now;
  const retention = opts.retention ?? DEFAULT_RETENTION;
  if (!Number.isInteger(retention.keep) || retention.keep < 1) {
    throw new CallmapError(
      'SNAPSHOT_BAD_RETENTION',
      `snapshot retention must keep at least 1 snapshot (got ${retention.keep})`,
    );
  }
  if (path !== ':memory:' && fs.existsSync(path) && fs.statSync(path).isDirectory()) {
    throw new CallmapError('SNAPSHOT_DB_OPEN_FAILED', `${path} is a directory; the snapshot database must be a file`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 1000 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${(opts.sync ?? 'full').toUpperCase()}`);
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
    const current = Number(db.pragma('user_version', { simple: true }));
    if (current > SNAPSHOT_SCHEMA_VERSION) {
      throw new CallmapError(
        'SNAPSHOT_DB_SCHEMA_TOO_NEW',
        `snapshot database ${path} has schema version ${current}, newer than this callmap understands (${SNAPSHOT_SCHEMA_VERSION}); upgrade callmap`,
      );
    }
    for (let v = current; v < SNAPSHOT_SCHEMA_VERSION; v++) {
      const sql = SNAPSHOT_MIGRATIONS[v] as string;
      const d = db;
      d.transaction(() => {
        d.exec(sql);
        d.pragma(`user_version = ${v + 1}`);
      })();
    }
  } catch (e) {
    try {
      db?.close();
    } catch {
      // already failing
    }
    throw openError(path, e);
  }
  const conn = db;
  const metaCols = 'id, taken_at, namespaces, trigger, map_version, totals';
  const s = {
    insert: conn.prepare(
      'INSERT INTO snapshots (taken_at, namespaces, trigger, map_version, totals, body) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    keep: conn.prepare(
      'DELETE FROM snapshots WHERE id <> ? AND id NOT IN (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)',
    ),
    age: conn.prepare('DELETE FROM snapshots WHERE id <> ? AND taken_at < ?'),
    count: conn.prepare('SELECT COUNT(*) AS n, MAX(taken_at) AS newest FROM snapshots'),
    list: conn.prepare(`SELECT ${metaCols} FROM snapshots ORDER BY id DESC LIMIT ?`),
    get: conn.prepare('SELECT * FROM snapshots WHERE id = ?'),
    meta: conn.prepare(`SELECT ${metaCols} FROM snapshots WHERE id = ?`),
    previous: conn.prepare(
      `SELECT ${metaCols} FROM snapshots WHERE id < ? AND namespaces = ? ORDER BY id DESC LIMIT 1`,
    ),
  };
  let open = true;
  let skipped = 0;
  const initial = s.count.get() as { n: number; newest: number | null };
  const st: SnapshotStats = {
    created: { api: 0, schedule: 0 },
    failed: { api: 0, schedule: 0 },
    pruned: 0,
    stored: initial.n,
    lastSuccessAt: initial.newest ?? undefined,
  };

  const freeze = (namespaces: readonly string[]): SnapshotBody => {
    // The ACL first: with the writer thread (ADR 0100) `kafkaAcl()` waits for the groups in
    // flight and applies them to the mirror, so the intents read after it are of the same map.
    const acl = map.kafkaAcl();
    const intents = buildIntents(map, { namespaces, external: true });
    const ns = namespaces.length > 0 ? new Set(namespaces) : undefined;
    const kafkaAcl: SnapshotAclEntry[] = acl
      .filter((a) => !ns || ns.has(a.client.namespace))
      .map((a) => ({
        client: { name: a.client.name, namespace: a.client.namespace },
        server: { name: a.server.name, namespace: a.server.namespace },
        resourceType: a.resourceType,
        resourceName: a.resourceName,
        operation: a.operation,
        allowed: a.allowed,
      }));
    return { intents, kafkaAcl };
  };

  const checkOpen = (): void => {
    if (!open)
      throw new CallmapError('SHUTTING_DOWN', 'the snapshot database is closed; the mapper is shutting down', {
        status: 503,
      });
  };

  const takeNow = (requested: readonly string[], trigger: SnapshotTrigger): Snapshot => {
    checkOpen();
    const namespaces = [...new Set(requested)].sort();
    const takenAt = clock();
    const body = freeze(namespaces);
    const mapVersion = map.version;
    const totals = summarize(body).totals;
    const { id, pruned } = conn.transaction((): { id: number; pruned: number } => {
      const info = s.insert.run(
        takenAt,
        namespaces.join(','),
        trigger,
        mapVersion,
        JSON.stringify(totals),
        JSON.stringify(body),
      );
      const newId = Number(info.lastInsertRowid);
      let n = s.keep.run(newId, retention.keep).changes;
      if (retention.maxAgeMs !== undefined && retention.maxAgeMs > 0) {
        n += s.age.run(newId, takenAt - retention.maxAgeMs).changes;
      }
      return { id: newId, pruned: n };
    })();
    st.created[trigger]++;
    st.pruned += pruned;
    st.stored += 1 - pruned;
    st.lastSuccessAt = takenAt;
    return { id, takenAt, namespaces, trigger, mapVersion, totals, ...body };
  };

  return {
    path,
    get skipped() {
      return skipped;
    },
    take(t = {}) {
      const trigger = t.trigger ?? 'api';
      try {
        return takeNow(t.namespaces ?? [], trigger);
      } catch (e) {
        st.failed[trigger]++;
        throw e;
      }
    },
    list(limit = 1000) {
      checkOpen();
      const out: SnapshotMeta[] = [];
      for (const r of s.list.all(limit) as Row[]) {
        try {
          out.push(toMeta(r));
        } catch {
          skipped++;
        }
      }
      return out;
    },
    get(id) {
      checkOpen();
      const r = s.get.get(id) as Row | undefined;
      if (!r) return undefined;
      return { ...toMeta(r), ...parseBody(r.id, String(r.body)) };
    },
    meta(id) {
      checkOpen();
      const r = s.meta.get(id) as Row | undefined;
      return r ? toMeta(r) : undefined;
    },
    previous(id) {
      checkOpen();
      const cur = s.meta.get(id) as Row | undefined;
      if (!cur) return undefined;
      const r = s.previous.get(id, cur.namespaces) as Row | undefined;
      return r ? toMeta(r) : undefined;
    },
    stats: () => ({ ...st, created: { ...st.created }, failed: { ...st.failed } }),
    close() {
      if (!open) return;
      open = false;
      conn.close();
    },
  };
}
