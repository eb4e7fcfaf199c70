/**
 * The durable map: SQLite (better-sqlite3) in WAL mode with an in-memory mirror for queries.
 * Writes go to SQLite first (one transaction per batch, prepared statements); the mirror is updated
 * only after the commit, so a failed write leaves both unchanged. See ADR 0030.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { CallmapError, type KafkaOperation, type WorkloadIdentity, type WorkloadRef } from '../contract/index.ts';
import { BatchIdFilter } from './batch-filter.ts';
import {
  configureConnection,
  type GroupSql,
  migrate,
  PRUNE_EVERY,
  prepareStatements,
  type Retention,
  readDnsAnswers,
  readKafkaAcl,
  resetMap,
  type Statements,
  writeGroup,
} from './sqlite-writes.ts';
import {
  type ApplyResult,
  type BatchDelta,
  type ChangeListener,
  type DnsAnswer,
  type EdgeRecord,
  edgeKey,
  type KafkaAclRecord,
  KNOWN_COLS,
  type MapStore,
  workloadKey,
} from './types.ts';
import { replyError, type WriterReply, type WriterThread, writerConnection } from './writer-thread.ts';

export const SYNC_MODES = ['normal', 'full'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

/**
 * Where SQLite runs (ADR 0100): `thread` (default, what `callmap mapper` uses) commits on a worker
 * thread while the main thread parses and aggregates the next batches; `inline` keeps the
 * connection on the calling thread (the original path; used as the oracle in tests).
 */
export const WRITERS = ['thread', 'inline'] as const;
export type WriterMode = (typeof WRITERS)[number];

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
  /** Default `thread`. */
  writer?: WriterMode;
}

type Row = Record<string, unknown>;

interface QueuedGroup {
  batches: ReadonlyArray<{ batchId: string; accepted: number }>;
  delta: BatchDelta;
  now: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface PlannedGroup {
  sql: GroupSql;
  /** Updates the mirror; run only after the transaction committed. */
  commit(): void;
}

/** Source of store epochs (`MapStore.epoch`): unique in the process, so no two stores or resets share one. */
let epochs = 0;

const closedError = (): CallmapError =>
  new CallmapError('DB_CLOSED', 'the map database is closed (the mapper is shutting down)', { status: 503 });

/**
 * A failed group commit as the error the API answers (503, retry: nothing of the group was
 * stored). CallmapErrors (BATCH_ALREADY_APPLIED, DB_CLOSED, ...) pass through.
 */
function writeError(e: unknown): CallmapError {
  if (e instanceof CallmapError) return e;
  const code = sqliteCode(e);
  const msg = (e as Error)?.message ?? String(e);
  return new CallmapError(
    'DB_WRITE_FAILED',
    `the map database could not commit this batch (${code ? `${code}: ` : ''}${msg}); nothing of it was stored, retry it; if this persists, check the disk behind --db`,
    { status: 503, cause: e, details: { retryAfterSeconds: 2 } },
  );
}

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
    configureConnection(db, path, opts.sync ?? 'full');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw new CallmapError(
        'DB_CORRUPT',
        `database ${path} failed its integrity check (${String(check)}); move it away (and its -wal file) to start a new map, or restore a backup`,
        { details: { path } },
      );
    }
    migrate(db, path);
    const store = new SqliteMapStore(db, path, opts);
    db = undefined; // the store owns (or has closed) it now
    return store;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // already failing; the original error is what matters
    }
    throw openError(path, e);
  }
}

class SqliteMapStore implements MapStore {
  readonly path: string;
  /** Inline mode: the connection and its statements; thread mode: undefined (the writer owns it). */
  #db: Database.Database | undefined;
  #s: Statements | undefined;
  #writer: WriterThread | undefined;
  /** This store's connection number on the writer thread. */
  #conn = 0;
  /** Thread mode: ids the database may hold (exact look-up only on a hit). */
  #batchIds: BatchIdFilter | undefined;
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
  /** Committed edges by id (ids are dense from 1; the ingest fast path names edges by id, ADR 0101). */
  #byId: EdgeRecord[] = [];
  /** Edge ids mean what `#byId` says only within one epoch (a reset starts a new one). */
  #epoch = ++epochs;
  /** Per edge id: the plan that last wrote a row for it (`#planNo`) and where that row is (see `plan`). */
  #planNo = 0;
  #planMark = new Int32Array(0);
  #planAt = new Int32Array(0);
  #listeners = new Set<ChangeListener>();
  #batchesSincePrune = 0;
  #retention: Retention;
  /** Asynchronous group commits waiting to be planned; one is planned and in flight at a time. */
  #queue: QueuedGroup[] = [];
  #busy = false;

  constructor(db: Database.Database, path: string, opts: StoreOptions) {
    this.path = path;
    this.#retention = { ms: opts.batchRetentionMs ?? 86_400_000, count: opts.batchRetentionCount ?? 200_000 };
    this.load(db);
    if ((opts.writer ?? 'thread') === 'inline') {
      this.#db = db;
      this.#s = prepareStatements(db);
      return;
    }
    // Thread mode: remember the batch ids (count-pruned first, so the filter holds every one),
    // hand the file to the writer thread and wait for it to hold the lock.
    db.prepare('DELETE FROM batches WHERE seq <= (SELECT coalesce(max(seq), 0) FROM batches) - ?').run(
      this.#retention.count,
    );
    const filter = new BatchIdFilter(this.#retention.count + 2 * PRUNE_EVERY + 65_536);
    for (const id of db.prepare('SELECT batch_id FROM batches ORDER BY seq').pluck().iterate()) filter.add(String(id));
    this.#batchIds = filter;
    db.close();
    const { thread: writer, conn } = writerConnection();
    writer.call({
      op: 'open',
      conn,
      path,
      sync: opts.sync ?? 'full',
      lockTimeoutMs: opts.lockTimeoutMs ?? 1000,
      retention: this.#retention,
    });
    this.#writer = writer;
    this.#conn = conn;
  }

  private load(db: Database.Database): void {
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
    const edgeRows = db.prepare(
      'SELECT e.*, s.first_seen, s.last_seen, s.count FROM edges e JOIN edge_stats s ON s.id = e.id',
    );
    for (const r of edgeRows.iterate() as Iterable<Row>) {
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
      this.#byId[rec.id] = rec;
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

  get epoch(): number {
    return this.#epoch;
  }

  knownEdge(key: string): EdgeRecord | undefined {
    return this.#edges.get(key);
  }

  holdsEdge(rec: EdgeRecord): boolean {
    return this.#byId[rec.id] === rec;
  }

  identityCurrent(w: WorkloadIdentity): boolean {
    return this.#inputs.get(w)?.current === true;
  }

  /** False once closed, or when the writer thread died (then /readyz fails and every write is a 503). */
  isOpen(): boolean {
    return this.#open && this.#writer?.dead !== true;
  }

  private ensureOpen(): void {
    if (!this.#open) throw closedError();
  }

  acceptedBatch(batchId: string): ApplyResult | undefined {
    this.ensureOpen();
    let n: unknown;
    if (this.#writer !== undefined) {
      if (!this.#batchIds?.mayHave(batchId)) return undefined;
      n = this.#writer.call({ op: 'batch', batchId, conn: this.#conn });
      if (n === null) return undefined;
    } else {
      n = this.#s?.batchGet.get(batchId);
    }
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
    this.drain();
    const p = this.plan(batches, delta, now);
    try {
      if (this.#writer !== undefined) this.#writer.call({ op: 'group', group: p.sql, conn: this.#conn });
      else writeGroup(this.#db as Database.Database, this.#s as Statements, p.sql, this.#retention);
    } catch (e) {
      this.forgetFailed(p.sql.batchIds);
      throw writeError(e);
    }
    p.commit();
  }

  applyGroupAsync(
    batches: ReadonlyArray<{ batchId: string; accepted: number }>,
    delta: BatchDelta,
    now: number,
  ): Promise<void> {
    if (this.#writer === undefined) {
      try {
        this.applyGroup(batches, delta, now);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    try {
      this.ensureOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ batches, delta, now, resolve, reject });
      this.pump();
    });
  }

  /** Plans and posts the next queued group when none is in flight (its mirror update runs on the reply). */
  private pump(): void {
    const writer = this.#writer;
    while (writer !== undefined && !this.#busy && this.#queue.length > 0) {
      const q = this.#queue.shift() as QueuedGroup;
      const { resolve, reject } = q;
      let commit: () => void;
      let sql: GroupSql;
      try {
        this.ensureOpen();
        ({ sql, commit } = this.plan(q.batches, q.delta, q.now));
      } catch (e) {
        reject(writeError(e));
        continue;
      }
      // Only `commit` and the two callbacks wait for the reply: the delta and the posted rows
      // (copied to the writer) are garbage from here on, while they are still young.
      this.#busy = true;
      const ids = sql.batchIds;
      try {
        writer.send({ op: 'group', group: sql, conn: this.#conn }, (r) => {
          this.#busy = false;
          if (r.ok) {
            commit();
            resolve();
          } else {
            this.forgetFailed(ids);
            reject(writeError(replyError(r.error as NonNullable<WriterReply['error']>)));
          }
          this.pump();
        });
      } catch (e) {
        this.#busy = false;
        reject(writeError(e));
      }
    }
  }

  /**
   * A group the writer rolled back: its ids leave the batch-id filter again, so failed groups
   * (retried) cannot push ids the database holds out of it. Not when the writer died: its last
   * group may have committed (the store is dead then anyway).
   */
  private forgetFailed(ids: readonly string[]): void {
    if (this.#writer !== undefined && !this.#writer.dead) this.#batchIds?.forgetLast(ids);
  }

  /** Thread mode: blocks until every queued and in-flight group is committed (or failed) and answered. */
  private drain(): void {
    const writer = this.#writer;
    if (writer === undefined) return;
    while (this.#busy || this.#queue.length > 0) {
      if (!this.#busy) this.pump();
      writer.settle();
    }
  }

  /**
   * Plans a group against the committed mirror (ADR 0035): which edges are new, which change, with
   * their new values, as flat row arrays for the writer; `commit` updates the mirror from the same
   * values once the transaction has committed. Nothing is changed before that.
   */
  private plan(
    batches: ReadonlyArray<{ batchId: string; accepted: number }>,
    delta: BatchDelta,
    now: number,
  ): PlannedGroup {
    const after: Array<() => void> = [];
    const fresh: EdgeRecord[] = [];
    const inserts: unknown[] = [];
    /** Changed edges without a port change, in `updates` order (4 values each there). */
    const updRecs: EdgeRecord[] = [];
    /** id, first, last, count per changed edge: a flat Float64Array (no boxed numbers, one copy to post). */
    let updates = new Float64Array(4 * Math.max(16, Math.min(delta.edges.length + (delta.known?.n ?? 0), 16_384)));
    let nUpd = 0;
    /** Changed edges with a port change and their new values (rare in the steady state). */
    const portRecs: EdgeRecord[] = [];
    const portVals: Array<{ first: number; last: number; count: number; ports: number[] }> = [];
    const sql: GroupSql = {
      batchIds: batches.map((b) => b.batchId),
      accepted: batches.map((b) => b.accepted),
      now,
      prune: this.#batchesSincePrune + batches.length >= PRUNE_EVERY,
      inserts,
      updates,
      firsts: [],
      portUpdates: [],
      workloads: [],
      http: [],
      kafka: [],
      extIps: [],
      acl: delta.acl,
      dns: delta.dnsAnswers,
    };
    let nextId = this.#maxId;
    // Rows written for committed edges are marked by id (`#planAt`: index into `updates`, or
    // -(1 + index into portRecs)), so known-edge observations of the same edge fold into them.
    const planNo = ++this.#planNo;
    if (this.#planMark.length <= this.#maxId) {
      const size = Math.max(2 * this.#planMark.length, this.#maxId + 4096);
      this.#planMark = new Int32Array(size);
      this.#planAt = new Int32Array(size);
    }
    const mark = this.#planMark;
    const at = this.#planAt;
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
        this.details(r, e, after, sql, true);
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
        this.details(rec, e, after, sql, true);
        continue;
      }
      let ports: number[] | undefined;
      for (const p of e.ports) {
        if (!rec.ports.includes(p) && !ports?.includes(p)) {
          ports ??= [...rec.ports];
          ports.push(p);
        }
      }
      const first = Math.min(rec.firstSeen, e.firstSeen);
      const last = Math.max(rec.lastSeen, e.lastSeen);
      const count = rec.count + e.count;
      mark[rec.id] = planNo;
      if (ports) {
        ports.sort((a, b) => a - b);
        sql.portUpdates.push(first, last, count, ports.join(','), rec.id);
        portRecs.push(rec);
        portVals.push({ first, last, count, ports });
        at[rec.id] = -portRecs.length;
      } else {
        if (nUpd + 4 > updates.length) {
          const grown = new Float64Array(updates.length * 2);
          grown.set(updates);
          updates = grown;
        }
        at[rec.id] = nUpd >> 2;
        updates[nUpd] = rec.id;
        updates[nUpd + 1] = first;
        updates[nUpd + 2] = last;
        updates[nUpd + 3] = count;
        nUpd += 4;
        updRecs.push(rec);
      }
      this.details(rec, e, after, sql, false);
    }
    // Known-edge observations (ADR 0101): committed edges by id, their ports already stored.
    const known = delta.known;
    if (known !== undefined && known.n > 0) {
      if (known.epoch !== this.#epoch) {
        throw new Error('known-edge rows of another store epoch (the ingest pipeline converts them after a reset)');
      }
      const rows = known.rows;
      const byId = this.#byId;
      for (let o = 0, end = known.n * KNOWN_COLS; o < end; o += KNOWN_COLS) {
        const id = rows[o] as number;
        if (id < 0) continue;
        const t = rows[o + 1] as number;
        const c = rows[o + 2] as number;
        if (mark[id] === planNo) {
          const i = at[id] as number;
          if (i >= 0) {
            const u = 4 * i;
            if (t < (updates[u + 1] as number)) updates[u + 1] = t;
            if (t > (updates[u + 2] as number)) updates[u + 2] = t;
            updates[u + 3] = (updates[u + 3] as number) + c;
          } else {
            const v = portVals[-i - 1] as { first: number; last: number; count: number; ports: number[] };
            v.first = Math.min(v.first, t);
            v.last = Math.max(v.last, t);
            v.count += c;
            const pu = sql.portUpdates;
            const u = 5 * (-i - 1);
            pu[u] = v.first;
            pu[u + 1] = v.last;
            pu[u + 2] = v.count;
          }
          continue;
        }
        const rec = byId[id];
        if (rec === undefined) throw new Error(`known edge ${id} is not in the map`);
        if (nUpd + 4 > updates.length) {
          const grown = new Float64Array(updates.length * 2);
          grown.set(updates);
          updates = grown;
        }
        mark[id] = planNo;
        at[id] = nUpd >> 2;
        updates[nUpd] = id;
        updates[nUpd + 1] = Math.min(rec.firstSeen, t);
        updates[nUpd + 2] = Math.max(rec.lastSeen, t);
        updates[nUpd + 3] = rec.count + c;
        nUpd += 4;
        updRecs.push(rec);
      }
    }
    sql.updates = updates.subarray(0, nUpd);
    for (let i = 0; i < updRecs.length; i++) {
      const first = updates[4 * i + 1] as number;
      if (first !== (updRecs[i] as EdgeRecord).firstSeen) sql.firsts.push(updates[4 * i] as number, first);
    }
    for (const r of fresh) {
      inserts.push(
        r.id,
        r.client.namespace,
        r.client.name,
        r.server?.namespace ?? null,
        r.server?.name ?? null,
        r.via?.namespace ?? null,
        r.via?.name ?? null,
        r.extDomain ?? null,
        r.ports.join(','),
        r.firstSeen,
        r.lastSeen,
        r.count,
      );
    }
    for (const w of seenWorkloads.values()) {
      sql.workloads.push(w.namespace, w.name, w.kind, JSON.stringify(w.labels ?? {}));
    }
    // Thread mode: from now on the database may hold these ids (until the commit fails: then the
    // filter keeps a harmless extra entry).
    if (this.#batchIds !== undefined) for (const id of sql.batchIds) this.#batchIds.add(id);

    const nBatches = batches.length;
    const changed = delta.edges.length > 0 || delta.acl.length > 0 || (delta.known?.n ?? 0) > 0;
    const commit = (): void => {
      this.#batchesSincePrune += nBatches;
      if (this.#batchesSincePrune >= PRUNE_EVERY) this.#batchesSincePrune = 0;
      this.#maxId = nextId;
      for (const r of fresh) {
        this.#edges.set(r.key, r);
        this.#byId[r.id] = r;
      }
      for (let i = 0; i < updRecs.length; i++) {
        const rec = updRecs[i] as EdgeRecord;
        rec.firstSeen = updates[4 * i + 1] as number;
        rec.lastSeen = updates[4 * i + 2] as number;
        rec.count = updates[4 * i + 3] as number;
        rec.rev++;
      }
      for (let i = 0; i < portRecs.length; i++) {
        const rec = portRecs[i] as EdgeRecord;
        const v = portVals[i] as { first: number; last: number; count: number; ports: number[] };
        rec.firstSeen = v.first;
        rec.lastSeen = v.last;
        rec.count = v.count;
        rec.ports = v.ports;
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
      if (changed) this.changed();
    };
    return { sql, commit };
  }

  private noteInput(w: WorkloadIdentity): void {
    if (this.#inputs.get(w)?.current === true) return;
    const stored = this.#workloads.get(workloadKey(w));
    const slot = stored === undefined ? undefined : this.#slots.get(stored);
    if (slot) this.#inputs.set(w, slot);
  }

  /**
   * Plans HTTP / Kafka / external-IP detail rows the edge does not have yet: the rows go to `sql`
   * (written inside the transaction), the mirror change to `after` (run after commit).
   */
  private details(
    r: EdgeRecord,
    e: BatchDelta['edges'][number],
    after: Array<() => void>,
    sql: GroupSql,
    fresh: boolean,
  ): void {
    if (e.http.length === 0 && e.kafka.length === 0 && e.extIps.length === 0) return;
    for (const h of e.http) {
      const k = `${h.method} ${h.path}`;
      if (fresh || !r.http?.has(k)) {
        sql.http.push(r.id, h.method, h.path);
        after.push(() => {
          r.http ??= new Map();
          r.http.set(k, { method: h.method, path: h.path });
        });
      }
    }
    for (const a of e.kafka) {
      const k = kafkaKey(a.topic, a.operation, a.allowed);
      if (fresh || !r.kafka?.has(k)) {
        sql.kafka.push(r.id, a.topic, a.operation, a.allowed ? 1 : 0);
        after.push(() => {
          r.kafka ??= new Map();
          r.kafka.set(k, { topic: a.topic, operation: a.operation, allowed: a.allowed });
        });
      }
    }
    for (const ip of e.extIps) {
      if (fresh || !r.extIps?.includes(ip)) {
        sql.extIps.push(r.id, ip);
        after.push(() => {
          r.extIps ??= [];
          if (!r.extIps.includes(ip)) r.extIps.push(ip);
        });
      }
    }
  }

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
    if (this.#writer === undefined) return readKafkaAcl(this.#db as Database.Database);
    this.drain();
    return this.#writer.call({ op: 'kafkaAcl', conn: this.#conn }) as KafkaAclRecord[];
  }

  dnsAnswers(now: number): DnsAnswer[] {
    this.ensureOpen();
    if (this.#writer === undefined) return readDnsAnswers(this.#db as Database.Database, now);
    this.drain();
    return this.#writer.call({ op: 'dns', now, conn: this.#conn }) as DnsAnswer[];
  }

  reset(): number {
    this.ensureOpen();
    let removed: number;
    if (this.#writer === undefined) removed = resetMap(this.#db as Database.Database);
    else {
      this.drain();
      removed = this.#writer.call({ op: 'reset', conn: this.#conn }) as number;
    }
    this.#edges.clear();
    this.#byId = [];
    this.#epoch = ++epochs;
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

  /** Commits what is queued or in flight (answering its callers), then closes the database. */
  close(): void {
    if (!this.#open) return;
    try {
      this.drain();
    } finally {
      this.#open = false;
      this.#listeners.clear();
      for (const q of this.#queue.splice(0)) q.reject(closedError());
      if (this.#writer !== undefined && !this.#writer.dead) this.#writer.call({ op: 'close', conn: this.#conn });
      else this.#db?.close();
    }
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
