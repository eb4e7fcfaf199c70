/**
 * Entry of the map's writer thread (ADR 0100): owns the SQLite connections of the stores opened
 * with `writer: 'thread'` (one thread per process) and runs requests strictly in arrival order, so a read (batch id, Kafka
 * ACL, reset) always sees every group posted before it. Each reply goes to the reply port, then
 * the shared signal word is bumped so a main thread blocked in a synchronous call wakes up.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CallmapError } from '../contract/errors.ts';
import {
  configureConnection,
  type GroupSql,
  migrate,
  prepareStatements,
  type Retention,
  readDnsAnswers,
  readKafkaAcl,
  resetMap,
  type Statements,
  writeGroup,
} from './sqlite-writes.ts';
import type { WriterReply, WriterRequest, WriterThreadInit } from './writer-thread.ts';

const init = workerData as WriterThreadInit;
const port = init.port as MessagePort;
const signal = new Int32Array(init.signal);
interface Conn {
  db: Database.Database;
  s: Statements;
  retention: Retention;
}
/** Open connections by the number the main thread gave them (one per store). */
const conns = new Map<number, Conn>();

function open(conn: number, path: string, sync: string, lockTimeoutMs: number, retention: Retention): void {
  const db = new Database(path, { timeout: lockTimeoutMs });
  try {
    configureConnection(db, path, sync);
    migrate(db, path);
    conns.set(conn, { db, s: prepareStatements(db), retention });
  } catch (e) {
    db.close();
    throw e;
  }
}

function need(conn: number): Conn {
  const c = conns.get(conn);
  if (c === undefined) {
    throw new CallmapError('DB_CLOSED', 'the map database is closed (the mapper is shutting down)', { status: 503 });
  }
  return c;
}

function handle(m: WriterRequest): unknown {
  switch (m.op) {
    case 'open':
      open(m.conn, m.path, m.sync, m.lockTimeoutMs, m.retention);
      return undefined;
    case 'group': {
      const c = need(m.conn);
      writeGroup(c.db, c.s, m.group as GroupSql, c.retention);
      return undefined;
    }
    case 'batch': {
      const n = need(m.conn).s.batchGet.get(m.batchId);
      return n === undefined ? null : Number(n);
    }
    case 'kafkaAcl':
      return readKafkaAcl(need(m.conn).db);
    case 'dns':
      return readDnsAnswers(need(m.conn).db, m.now);
    case 'reset':
      return resetMap(need(m.conn).db);
    case 'close':
      conns.get(m.conn)?.db.close();
      conns.delete(m.conn);
      return undefined;
    case 'crash':
      process.nextTick(() => {
        throw new Error('writer thread crash requested by a test');
      });
      return undefined;
  }
}

function errorOf(e: unknown): WriterReply['error'] {
  const err = e as { code?: unknown; message?: unknown; status?: unknown; details?: unknown };
  return {
    callmap: e instanceof CallmapError,
    code: typeof err?.code === 'string' ? err.code : '',
    message: typeof err?.message === 'string' ? err.message : String(e),
    status: typeof err?.status === 'number' ? err.status : 500,
    details: (e instanceof CallmapError ? e.details : undefined) as Record<string, unknown> | undefined,
  };
}

parentPort?.on('message', (m: WriterRequest) => {
  let reply: WriterReply;
  try {
    reply = { id: m.id, ok: true, value: handle(m) };
  } catch (e) {
    reply = { id: m.id, ok: false, error: errorOf(e) };
  }
  port.postMessage(reply);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
