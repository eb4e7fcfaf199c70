/**
 * The durable map: SQLite (better-sqlite3) in WAL mode with an in-memory mirror for queries.
 * Writes go to SQLite first (one transaction per batch, prepared statements); the mirror is updated
 * only after the commit, so a failed write leaves both unchanged. See ADR 0030.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { CallmapError, type KafkaOperation, type WorkloadIdentity, type WorkloadRef } from '../contract/index.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import {
  type ApplyResult,
  type BatchDelta,
  type ChangeListener,
  type DnsAnswer,
  type EdgeRecord,
  edgeKey,
  type KafkaAclRecord,
  type MapStore,
  workloadKey,
} from './types.ts';

export const SYNC_MODES = ['normal', 'full'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

export interface StoreOptions {
  /** Database file path (`:memory:` for throw-away stores in unit tests). */
  path: string;
  /** `full` (default): fsync the WAL on every commit; `normal`: survive process crashes only. */
  sync?: SyncMode;
  /** How long to wait for a lock held by another process before failing with DB_LOCKED. */
  lockTimeoutMs?: number;
  /** Accepted batch ids are remembered this long (default 24 h) ... */
  batchRetentionMs?: number;
  /** ... and at most this many (default 200,000). */
  batchRetentionCount?: number;
}

type Row = Record<string, unknown>;

const PRUNE_EVERY = 512;
/** Rows per multi-row INSERT / UPDATE statement (12 and 4 parameters per row). */
const CHUNK = 64;
const EDGE_INSERT = `INSERT INTO edges (id, client_ns, client_name, server_ns, server_name, via_ns, via_name,
  ext_domain, ports, first_seen, last_seen, count) VALUES`;

function sqliteCode(e: unknown): string {
  return typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : '';
}

/** Maps an SQLite failure during start-up to a CallmapError that says what to do. */
export function openError(path: string, e: unknown): CallmapError {
  if (e instanceof CallmapError) return e;
  const code = sqliteCode(e);
  const msg = (e as Error)?.message ?? String(e);
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CallmapError(
      'DB_LOCKED',
      `database ${path} is locked by another process (is another mapper running on it?); stop that process or use a different --db path`,
      { cause: e, details: { path } },
    );
  }
  if (code === 'SQLITE_NOTADB') {
    return new CallmapError(
      'DB_CORRUPT',
      `${path} is not an SQLite database (${msg}); point --db at a callmap database or move the file away to start a new map`,
      { cause: e, details: { path } },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new CallmapError(
      'DB_CORRUPT',
      `database ${path} is corrupt (${msg}); move it away (and its -wal file) to start a new map, or restore a backup`,
      { cause: e, details: { path } },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM')) {
    return new CallmapError(
      'DB_OPEN_FAILED',
      `cannot open database ${path} for writing (${msg}); check that the directory exists and is writable`,
      { cause: e, details: { path } },
    );
  }
  return new CallmapError('DB_OPEN_FAILED', `cannot open database ${path}: ${msg}`, {
    cause: e,
    details: { path },
  });
}

/** Opens (creating if needed) the map database and loads it into memory. Throws CallmapError. */
export function openMapStore(opts: StoreOptions): MapStore {
  const path = opts.path;
  if (path !== ':memory:') {
    try {
      const st = fs.statSync(path);
      if (st.isDirectory()) {
        throw new CallmapError(
          'DB_OPEN_FAILED',
          `${path} is a directory; --db must name a file, e.g. ${path}/callmap.db`,
        );
      }
    } catch (e) {
      if (e instanceof CallmapError) throw e;
    }
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: opts.lockTimeoutMs ?? 1000 });
    // Exclusive locking: one mapper process owns the file; a second one fails with DB_LOCKED
    // instead of silently interleaving writes. Must be set before WAL is entered.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (path !== ':memory:' && String(mode).toLowerCase() !== 'wal') {
      throw new CallmapError('DB_OPEN_FAILED', `could not switch ${path} to WAL mode (got ${String(mode)})`);
    }
    db.pragma(`synchronous = ${(opts.sync ?? 'full').toUpperCase()}`);
    db.pragma('foreign_keys = ON');
    // Take the write lock now so a second mapper fails at start-up, not on its first ingest.
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw new CallmapError(
        'DB_CORRUPT',
        `database ${path} failed its integrity check (${String(check)}); move it away (and its -wal file) to start a new map, or restore a backup`,
        { details: { path } },
      );
    }
    migrate(db, path);
    return new SqliteMapStore(db, path, opts);
  } catch (e) {
    try {
      db?.close();
    } catch {
      // already failing; the original error is what matters
    }
    throw openError(path, e);
  }
}

function migrate(db: Database.Database, path: string): void {
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

class SqliteMapStore implements MapStore {
  readonly path: string;
  #db: Database.Database;
  #open = true;
  #version = 0;
  #structureVersion = 0;
  #identityVersion = 0;
  #edges = new Map<string, EdgeRecord>();
  #workloads = new Map<string, WorkloadIdentity>();
  #workloadLabelsJson = new Map<string, string>();
  #refs = new Map<string, WorkloadRef>();
  /** Identity by interned ref object: the hot read path avoids building string keys. */
  #byRef = new WeakMap<WorkloadRef, WorkloadIdentity>();
  /**
   * Resolver-supplied identity objects (the resolver usually hands out the same one per workload)
   * → the slot of the stored identity they matched; valid while that slot is `current` (one
   * look-up per edge on the ingest hot path).
   */
  #inputs = new WeakMap<WorkloadIdentity, { current: boolean }>();
  /** Slot of each stored identity object; `current` is cleared when the object is replaced. */
  #slots = new WeakMap<WorkloadIdentity, { current: boolean }>();
  /** Highest edge id (ids are assigned here: one writer holds the file, ADR 0030). */
  #maxId = 0;
  /** Detail-row writes planned for the running transaction. */
  #detailWrites: Array<() => void> = [];
  #listeners = new Set<ChangeListener>();
  #batchesSincePrune = 0;
  #retentionMs: number;
  #retentionCount: number;
  #s: ReturnType<SqliteMapStore['prepare']>;

  constructor(db: Database.Database, path: string, opts: StoreOptions) {
    this.#db = db;
    this.path = path;
    this.#retentionMs = opts.batchRetentionMs ?? 86_400_000;
    this.#retentionCount = opts.batchRetentionCount ?? 200_000;
    this.#s = this.prepare();
    this.load();
  }

  private prepare() {
    const db = this.#db;
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
      edgeInsert: db.prepare(`${EDGE_INSERT} (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      edgeInsertMany: db.prepare(
        `${EDGE_INSERT} ${Array.from({ length: CHUNK }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      ),
      edgeUpdate: db.prepare('UPDATE edges SET first_seen = ?, last_seen = ?, count = ? WHERE id = ?'),
      // One statement per CHUNK edges; VALUES columns are column1..column4 = id, first, last, count.
      edgeUpdateMany: db.prepare(
        `UPDATE edges SET first_seen = v.column2, last_seen = v.column3, count = v.column4
         FROM (VALUES ${Array.from({ length: CHUNK }, () => '(?, ?, ?, ?)').join(', ')}) AS v
         WHERE edges.id = v.column1`,
      ),
      edgeUpdatePorts: db.prepare('UPDATE edges SET first_seen = ?, last_seen = ?, count = ?, ports = ? WHERE id = ?'),
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

  private load(): void {
    const db = this.#db;
    for (const r of db.prepare('SELECT namespace, name, kind, labels FROM workloads').iterate() as Iterable<Row>) {
      const labels = safeLabels(r['labels']);
      const w: WorkloadIdentity = {
        name: String(r['name']),
        namespace: String(r['namespace']),
        kind: String(r['kind']),
      };
      if (labels) w.labels = labels;
      const k = workloadKey(w);
      this.#workloads.set(k, w);
      this.#slots.set(w, { current: true });
      this.#workloadLabelsJson.set(k, String(r['labels']));
    }
    const byId = new Map<number, EdgeRecord>();
    for (const r of db.prepare('SELECT * FROM edges').iterate() as Iterable<Row>) {
      const client = this.ref(String(r['client_ns']), String(r['client_name']));
      const server = r['server_ns'] == null ? undefined : this.ref(String(r['server_ns']), String(r['server_name']));
      const via = r['via_ns'] == null ? undefined : this.ref(String(r['via_ns']), String(r['via_name']));
      const extDomain = r['ext_domain'] == null ? undefined : String(r['ext_domain']);
      const ports = String(r['ports'] ?? '');
      const rec = newEdgeRecord(
        Number(r['id']),
        edgeKey(client, server, via, extDomain),
        client,
        server,
        via,
        extDomain,
        ports === ''
          ? []
          : ports
              .split(',')
              .map(Number)
              .sort((a, b) => a - b),
        Number(r['first_seen']),
        Number(r['last_seen']),
        Number(r['count']),
      );
      byId.set(rec.id, rec);
      this.#edges.set(rec.key, rec);
      if (rec.id > this.#maxId) this.#maxId = rec.id;
    }
    for (const r of db.prepare('SELECT edge_id, method, path FROM edge_http').iterate() as Iterable<Row>) {
      const rec = byId.get(Number(r['edge_id']));
      if (!rec) continue;
      const method = String(r['method']);
      const p = String(r['path']);
      rec.http ??= new Map();
      rec.http.set(`${method} ${p}`, { method, path: p });
    }
    for (const r of db
      .prepare('SELECT edge_id, topic, operation, allowed FROM edge_kafka')
      .iterate() as Iterable<Row>) {
      const rec = byId.get(Number(r['edge_id']));
      if (!rec) continue;
      const a = {
        topic: String(r['topic']),
        operation: String(r['operation']) as KafkaOperation,
        allowed: Number(r['allowed']) === 1,
      };
      rec.kafka ??= new Map();
      rec.kafka.set(kafkaKey(a.topic, a.operation, a.allowed), a);
    }
    for (const r of db.prepare('SELECT edge_id, ip FROM edge_ext_ips').iterate() as Iterable<Row>) {
      const rec = byId.get(Number(r['edge_id']));
      if (!rec) continue;
      rec.extIps ??= [];
      rec.extIps.push(String(r['ip']));
    }
  }

  /** One shared WorkloadRef object per workload (the mirror holds many edges per workload). */
  private ref(namespace: string, name: string): WorkloadRef {
    const k = `${namespace}/${name}`;
    let r = this.#refs.get(k);
    if (!r) {
      r = { namespace, name };
      this.#refs.set(k, r);
    }
    return r;
  }

  get version(): number {
    return this.#version;
  }

  get structureVersion(): number {
    return this.#structureVersion;
  }

  get identityVersion(): number {
    return this.#identityVersion;
  }

  get edgeCount(): number {
    return this.#edges.size;
  }

  isOpen(): boolean {
    return this.#open;
  }

  private ensureOpen(): void {
    if (!this.#open)
      throw new CallmapError('DB_CLOSED', 'the map database is closed (the mapper is shutting down)', { status: 503 });
  }

  acceptedBatch(batchId: string): ApplyResult | undefined {
    this.ensureOpen();
    const n = this.#s.batchGet.get(batchId);
    return n === undefined ? undefined : { duplicate: true, accepted: Number(n) };
  }

  apply(batchId: string, accepted: number, delta: BatchDelta, now: number): ApplyResult {
    const prior = this.acceptedBatch(batchId);
    if (prior) return prior;
    this.applyGroup([{ batchId, accepted }], delta, now);
    return { duplicate: false, accepted };
  }

  applyGroup(batches: ReadonlyArray<{ batchId: string; accepted: number }>, delta: BatchDelta, now: number): void {
    this.ensureOpen();
    const s = this.#s;
    // Plan first (no mirror changes): which edges are new, which change, with their new values.
    // Rows are then written with multi-row statements (one native call per chunk instead of per
    // edge) and the mirror is updated from the same plain arrays after the commit.
    const after: Array<() => void> = [];
    const fresh: EdgeRecord[] = [];
    const updRecs: EdgeRecord[] = [];
    /** Per updated edge: firstSeen, lastSeen, count. */
    const updVals: number[] = [];
    /** Per updated edge: its new sorted port list, or undefined when the ports did not change. */
    const updPorts: Array<number[] | undefined> = [];
    let nextId = this.#maxId;
    const seenWorkloads = new Map<string, WorkloadIdentity>();
    /** Identity objects not yet known to match what is stored (remembered after the commit). */
    const unchecked: WorkloadIdentity[] = [];
    let lastChecked: WorkloadIdentity | undefined;
    const planned = new Map<string, EdgeRecord>();
    for (const e of delta.edges) {
      if (e.client !== lastChecked) {
        if (!this.noteWorkload(e.client, seenWorkloads)) unchecked.push(e.client);
        lastChecked = e.client;
      }
      if (e.server && !this.noteWorkload(e.server, seenWorkloads)) unchecked.push(e.server);
      const key = e.key ?? edgeKey(e.client, e.server, e.via, e.extDomain);
      const rec = this.#edges.get(key) ?? planned.get(key);
      if (rec === undefined) {
        const ports = e.ports.length > 1 ? [...e.ports].sort((a, b) => a - b) : [...e.ports];
        const r = newEdgeRecord(
          ++nextId,
          key,
          this.ref(e.client.namespace, e.client.name),
          e.server ? this.ref(e.server.namespace, e.server.name) : undefined,
          e.via ? this.ref(e.via.namespace, e.via.name) : undefined,
          e.extDomain,
          ports,
          e.firstSeen,
          e.lastSeen,
          e.count,
        );
        fresh.push(r);
        planned.set(key, r);
        this.details(r, e, after, true);
        continue;
      }
      if (rec.id > this.#maxId) {
        // Planned earlier in this group (ids above #maxId are this group's): the same new edge
        // twice in one delta (callers normally merge) is folded into the planned row.
        rec.firstSeen = Math.min(rec.firstSeen, e.firstSeen);
        rec.lastSeen = Math.max(rec.lastSeen, e.lastSeen);
        rec.count += e.count;
        for (const p of e.ports) if (!rec.ports.includes(p)) rec.ports.push(p);
        rec.ports.sort((a, b) => a - b);
        this.details(rec, e, after, true);
        continue;
      }
      let ports: number[] | undefined;
      for (const p of e.ports) {
        if (!rec.ports.includes(p) && !ports?.includes(p)) {
          ports ??= [...rec.ports];
          ports.push(p);
        }
      }
      if (ports) ports.sort((a, b) => a - b);
      updRecs.push(rec);
      updVals.push(Math.min(rec.firstSeen, e.firstSeen), Math.max(rec.lastSeen, e.lastSeen), rec.count + e.count);
      updPorts.push(ports);
      this.details(rec, e, after, false);
    }

    const run = this.#db.transaction((): void => {
      for (const b of batches) {
        if (s.batchInsert.run(b.batchId, now, b.accepted).changes === 0) {
          throw new CallmapError(
            'BATCH_ALREADY_APPLIED',
            `batch ${b.batchId} was already applied; nothing of this group was written, retry it`,
            { status: 409 },
          );
        }
      }
      if (this.#batchesSincePrune + batches.length >= PRUNE_EVERY) {
        s.batchPrune.run(now - this.#retentionMs, this.#retentionCount);
        s.dnsPrune.run(now - 3_600_000);
      }
      this.writeInserts(fresh);
      this.writeUpdates(updRecs, updVals, updPorts);
      for (const w of seenWorkloads.values()) {
        s.workloadUpsert.run(w.namespace, w.name, w.kind, JSON.stringify(w.labels ?? {}));
      }
      for (const f of this.#detailWrites) f();
      for (const a of delta.acl) {
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
      for (const d of delta.dnsAnswers) s.dnsUpsert.run(d.ip, d.domain, d.expiresAt);
    });
    try {
      run.immediate();
    } finally {
      this.#detailWrites.length = 0;
    }

    // Committed: update the mirror.
    this.#batchesSincePrune += batches.length;
    if (this.#batchesSincePrune >= PRUNE_EVERY) this.#batchesSincePrune = 0;
    this.#maxId = nextId;
    for (const r of fresh) this.#edges.set(r.key, r);
    for (let i = 0; i < updRecs.length; i++) {
      const rec = updRecs[i] as EdgeRecord;
      rec.firstSeen = updVals[3 * i] as number;
      rec.lastSeen = updVals[3 * i + 1] as number;
      rec.count = updVals[3 * i + 2] as number;
      const p = updPorts[i];
      if (p) rec.ports = p;
      rec.rev++;
    }
    for (const f of after) f();
    let replaced = false;
    for (const [k, w] of seenWorkloads) {
      const old = this.#workloads.get(k);
      if (old) {
        const slot = this.#slots.get(old);
        if (slot) slot.current = false;
        replaced = true;
      }
      this.#workloads.set(k, w);
      this.#slots.set(w, { current: true });
      this.#workloadLabelsJson.set(k, JSON.stringify(w.labels ?? {}));
      this.#byRef.set(this.ref(w.namespace, w.name), w);
    }
    for (const w of unchecked) this.noteInput(w);
    if (fresh.length > 0) this.#structureVersion++;
    if (replaced) this.#identityVersion++;
    if (delta.edges.length > 0 || delta.acl.length > 0) this.changed();
  }

  /** Remembers that this resolver-supplied identity object matches what is stored for its workload. */
  private noteInput(w: WorkloadIdentity): void {
    if (this.#inputs.get(w)?.current === true) return;
    const stored = this.#workloads.get(workloadKey(w));
    const slot = stored === undefined ? undefined : this.#slots.get(stored);
    if (slot) this.#inputs.set(w, slot);
  }

  private writeInserts(rows: readonly EdgeRecord[]): void {
    const cols = 12;
    let i = 0;
    const put = (a: unknown[], r: EdgeRecord, o: number): void => {
      a[o] = r.id;
      a[o + 1] = r.client.namespace;
      a[o + 2] = r.client.name;
      a[o + 3] = r.server?.namespace ?? null;
      a[o + 4] = r.server?.name ?? null;
      a[o + 5] = r.via?.namespace ?? null;
      a[o + 6] = r.via?.name ?? null;
      a[o + 7] = r.extDomain ?? null;
      a[o + 8] = r.ports.join(',');
      a[o + 9] = r.firstSeen;
      a[o + 10] = r.lastSeen;
      a[o + 11] = r.count;
    };
    if (rows.length >= CHUNK) {
      const a: unknown[] = new Array(CHUNK * cols);
      for (; i + CHUNK <= rows.length; i += CHUNK) {
        for (let j = 0; j < CHUNK; j++) put(a, rows[i + j] as EdgeRecord, j * cols);
        this.#s.edgeInsertMany.run(a);
      }
    }
    const one: unknown[] = new Array(cols);
    for (; i < rows.length; i++) {
      put(one, rows[i] as EdgeRecord, 0);
      this.#s.edgeInsert.run(one);
    }
  }

  private writeUpdates(
    recs: readonly EdgeRecord[],
    vals: readonly number[],
    ports: ReadonlyArray<number[] | undefined>,
  ): void {
    const s = this.#s;
    const a: number[] = new Array(CHUNK * 4);
    let n = 0;
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i] as EdgeRecord;
      const p = ports[i];
      if (p) {
        s.edgeUpdatePorts.run(vals[3 * i], vals[3 * i + 1], vals[3 * i + 2], p.join(','), rec.id);
        continue;
      }
      a[n] = rec.id;
      a[n + 1] = vals[3 * i] as number;
      a[n + 2] = vals[3 * i + 1] as number;
      a[n + 3] = vals[3 * i + 2] as number;
      n += 4;
      if (n === a.length) {
        s.edgeUpdateMany.run(a);
        n = 0;
      }
    }
    for (let o = 0; o < n; o += 4) s.edgeUpdate.run(a[o + 1], a[o + 2], a[o + 3], a[o]);
  }

  /**
   * Plans HTTP / Kafka / external-IP detail rows the edge does not have yet: the SQL goes to
   * `#detailWrites` (run inside the transaction), the mirror change to `after` (run after commit).
   */
  private details(r: EdgeRecord, e: BatchDelta['edges'][number], after: Array<() => void>, fresh: boolean): void {
    if (e.http.length === 0 && e.kafka.length === 0 && e.extIps.length === 0) return;
    const s = this.#s;
    const w = this.#detailWrites;
    for (const h of e.http) {
      const k = `${h.method} ${h.path}`;
      if (fresh || !r.http?.has(k)) {
        w.push(() => s.httpInsert.run(r.id, h.method, h.path));
        after.push(() => {
          r.http ??= new Map();
          r.http.set(k, { method: h.method, path: h.path });
        });
      }
    }
    for (const a of e.kafka) {
      const k = kafkaKey(a.topic, a.operation, a.allowed);
      if (fresh || !r.kafka?.has(k)) {
        w.push(() => s.kafkaInsert.run(r.id, a.topic, a.operation, a.allowed ? 1 : 0));
        after.push(() => {
          r.kafka ??= new Map();
          r.kafka.set(k, { topic: a.topic, operation: a.operation, allowed: a.allowed });
        });
      }
    }
    for (const ip of e.extIps) {
      if (fresh || !r.extIps?.includes(ip)) {
        w.push(() => s.extIpInsert.run(r.id, ip));
        after.push(() => {
          r.extIps ??= [];
          if (!r.extIps.includes(ip)) r.extIps.push(ip);
        });
      }
    }
  }

  /** Records a workload identity if it is new or changed; never downgrades a known kind to Unknown. */
  private noteWorkload(w: WorkloadIdentity, seen: Map<string, WorkloadIdentity>): boolean {
    if (this.#inputs.get(w)?.current === true) return true;
    const k = workloadKey(w);
    const known = seen.get(k) ?? this.#workloads.get(k);
    if (known === undefined) {
      seen.set(k, normWorkload(w));
      return false;
    }
    if (w.kind === 'Unknown' && known.kind !== 'Unknown') return false;
    const labelsJson = JSON.stringify(w.labels ?? {});
    const knownJson = seen.has(k) ? JSON.stringify(known.labels ?? {}) : this.#workloadLabelsJson.get(k);
    if (known.kind !== w.kind || (w.labels !== undefined && labelsJson !== knownJson)) {
      const merged = normWorkload({ ...w, labels: w.labels ?? known.labels });
      seen.set(k, merged);
    }
    return false;
  }

  edges(): Iterable<EdgeRecord> {
    return this.#edges.values();
  }

  workload(ref: WorkloadRef): WorkloadIdentity | undefined {
    const hit = this.#byRef.get(ref);
    if (hit) return hit;
    const w = this.#workloads.get(workloadKey(ref));
    if (w && this.#refs.get(workloadKey(ref)) === ref) this.#byRef.set(ref, w);
    return w;
  }

  kafkaAcl(): KafkaAclRecord[] {
    this.ensureOpen();
    return (this.#db.prepare('SELECT * FROM kafka_acl ORDER BY client_ns, client_name').all() as Row[]).map((r) => ({
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

  dnsAnswers(now: number): DnsAnswer[] {
    this.ensureOpen();
    return (
      this.#db.prepare('SELECT ip, domain, expires_at FROM dns_answers WHERE expires_at >= ?').all(now) as Row[]
    ).map((r) => ({ ip: String(r['ip']), domain: String(r['domain']), expiresAt: Number(r['expires_at']) }));
  }

  reset(): number {
    this.ensureOpen();
    const removed = this.#db
      .transaction(() => {
        const edges = this.#db.prepare('DELETE FROM edges').run().changes;
        const acl = this.#db.prepare('DELETE FROM kafka_acl').run().changes;
        this.#db.exec('DELETE FROM edge_http; DELETE FROM edge_kafka; DELETE FROM edge_ext_ips;');
        this.#db.exec('DELETE FROM workloads;');
        return edges + acl;
      })
      .immediate();
    this.#edges.clear();
    this.#workloads.clear();
    this.#workloadLabelsJson.clear();
    this.#inputs = new WeakMap();
    this.#slots = new WeakMap();
    this.#byRef = new WeakMap();
    this.#structureVersion++;
    this.#identityVersion++;
    this.changed();
    return removed;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  private changed(): void {
    this.#version++;
    const change = { version: this.#version, edges: this.#edges.size };
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch {
        // a listener must not break ingest
      }
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#listeners.clear();
    this.#db.close();
  }
}

function kafkaKey(topic: string, operation: string, allowed: boolean): string {
  return `${topic}\u0000${operation}\u0000${allowed ? 1 : 0}`;
}

function normWorkload(w: WorkloadIdentity): WorkloadIdentity {
  const out: WorkloadIdentity = { name: w.name, namespace: w.namespace, kind: w.kind };
  if (w.labels && Object.keys(w.labels).length > 0) out.labels = { ...w.labels };
  return out;
}

function safeLabels(v: unknown): Record<string, string> | undefined {
  try {
    const o = JSON.parse(String(v)) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0) {
      return o as Record<string, string>;
    }
  } catch {
    // a bad labels column is treated as no labels
  }
  return undefined;
}

/** A new in-memory edge with empty details and no reader cache (one shape for every edge). */
function newEdgeRecord(
  id: number,
  key: string,
  client: WorkloadRef,
  server: WorkloadRef | undefined,
  via: WorkloadRef | undefined,
  extDomain: string | undefined,
  ports: number[],
  firstSeen: number,
  lastSeen: number,
  count: number,
): EdgeRecord {
  return {
    id,
    key,
    client,
    server,
    via,
    extDomain,
    ports,
    http: undefined,
    kafka: undefined,
    extIps: undefined,
    firstSeen,
    lastSeen,
    count,
    rev: 0,
    jsonGen: -1,
    jsonAt: 0,
    jsonLen: 0,
    jsonRev: -1,
    jsonIdv: -1,
    compactGen: -1,
    compactAt: 0,
    compactLen: 0,
    compactRev: -1,
    compactClientEnd: -1,
    compactServerAt: -1,
    compactServerEnd: -1,
  };
}
