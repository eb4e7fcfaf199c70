/**
 * Main-thread side of the map's writer thread (ADR 0100). Requests are posted to the worker and
 * answered in order on a dedicated port. `send` is asynchronous (the group commit of the ingest
 * path: the main thread parses and aggregates the next batches while SQLite commits and fsyncs);
 * `call` blocks until its answer, dispatching the answers of earlier asynchronous requests first,
 * so a synchronous read or reset never overtakes a commit that was posted before it.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CallmapError } from '../contract/errors.ts';
import type { GroupSql, Retention } from './sqlite-writes.ts';

export interface WriterThreadInit {
  port: MessagePort;
  signal: SharedArrayBuffer;
  /** URL of `writer-thread-worker` (.ts under the tsx loader, .js when built). */
  entry: string;
}

/**
 * Loads the worker module (through tsx when it is TypeScript); a module that fails to load answers with id -1 on the reply port (and
 * bumps the signal), so a main thread blocked in the first `call` fails at once instead of waiting.
 * When the thread exits (an uncaught error, process.exit) it raises the signal's `EXITED` word: the
 * main thread may be blocked in `Atomics.wait`, where the Worker's 'exit' event cannot reach it.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
process.on('exit', () => {
  const s = new Int32Array(workerData.signal);
  Atomics.store(s, 1, 1);
  Atomics.add(s, 0, 1);
  Atomics.notify(s, 0);
});
(async () => {
  // Running from TypeScript sources (tests, benchmarks with --tsx): the loader is per thread.
  if (workerData.entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
  await import(workerData.entry);
})().catch((e) => {
  workerData.port.postMessage({ id: -1, ok: false, error: { callmap: false, code: 'WRITER_LOAD_FAILED',
    message: 'the writer thread could not load: ' + String((e && e.message) || e), status: 500 } });
  const s = new Int32Array(workerData.signal);
  Atomics.add(s, 0, 1);
  Atomics.notify(s, 0);
});
`;

/** `conn` names one store's connection (one writer thread serves every store of the process). */
export type WriterRequest = { id: number; conn: number } & (
  | { op: 'open'; path: string; sync: string; lockTimeoutMs: number; retention: Retention }
  | { op: 'group'; group: GroupSql }
  | { op: 'batch'; batchId: string }
  | { op: 'kafkaAcl' }
  | { op: 'dns'; now: number }
  | { op: 'reset' }
  | { op: 'close' }
  /** Tests only: right after answering, the thread dies of an uncaught error (a writer dying on its own). */
  | { op: 'crash' }
);

type Request = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface WriterReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: {
    callmap: boolean;
    code: string;
    message: string;
    status: number;
    details: Record<string, unknown> | undefined;
  };
}

/** How long a synchronous call waits for the writer before giving up (a commit normally takes ms). */
const CALL_TIMEOUT_MS = 60_000;

/** The error a failed request carries, rebuilt on the main thread (SQLite errors keep their `code`). */
export function replyError(e: NonNullable<WriterReply['error']>): Error {
  if (e.callmap) {
    return new CallmapError(e.code, e.message, {
      status: e.status,
      ...(e.details !== undefined ? { details: e.details } : {}),
    });
  }
  const err = new Error(e.message) as Error & { code: string };
  err.code = e.code;
  return err;
}

export class WriterThread {
  #worker: Worker;
  #port: MessagePort;
  #signal: Int32Array;
  #next = 1;
  #pending = new Map<number, (r: WriterReply) => void>();
  #dead: Error | undefined;

  constructor() {
    // [0] bumped by every reply (what a blocked main thread waits on), [1] EXITED: set when the thread exits.
    const sab = new SharedArrayBuffer(8);
    this.#signal = new Int32Array(sab);
    const { port1, port2 } = new MessageChannel();
    const self = import.meta.url;
    const entry = new URL(self.endsWith('.ts') ? './writer-thread-worker.ts' : './writer-thread-worker.js', self);
    const init: WriterThreadInit = { port: port2, signal: sab, entry: entry.href };
    this.#worker = new Worker(BOOTSTRAP, { eval: true, workerData: init, transferList: [port2] });
    this.#worker.unref();
    this.#port = port1;
    port1.on('message', (r: WriterReply) => this.#dispatch(r));
    port1.unref();
    this.#worker.on('error', (e) => this.#fail(e));
    this.#worker.on('exit', (code) => this.#fail(new Error(`the writer thread exited (code ${code})`)));
  }

  /** Requests posted and not answered yet. */
  get pending(): number {
    return this.#pending.size;
  }

  #fail(e: Error): void {
    this.#dead ??= e;
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    this.#port.unref();
    for (const cb of waiting) {
      cb({
        id: 0,
        ok: false,
        error: {
          callmap: true,
          code: 'DB_WRITER_FAILED',
          message: `the map database writer stopped (${this.#dead.message}); restart the mapper`,
          status: 503,
          details: undefined,
        },
      });
    }
  }

  #dispatch(r: WriterReply): void {
    if (r.id === -1) {
      this.#fail(new Error(r.error?.message ?? 'the writer thread failed'));
      return;
    }
    const cb = this.#pending.get(r.id);
    if (cb === undefined) return;
    this.#pending.delete(r.id);
    if (this.#pending.size === 0) this.#port.unref();
    cb(r);
  }

  #post(req: Request, cb: (r: WriterReply) => void): void {
    if (this.#dead !== undefined) {
      throw new CallmapError(
        'DB_WRITER_FAILED',
        `the map database writer stopped (${this.#dead.message}); restart the mapper`,
        { status: 503 },
      );
    }
    const id = this.#next++;
    this.#pending.set(id, cb);
    this.#port.ref();
    this.#worker.postMessage({ ...req, id });
  }

  /** Posts a request; `done` gets the reply (in order, from the event loop or a later `call`/`settle`). */
  send(req: Request, done: (r: WriterReply) => void): void {
    this.#post(req, done);
  }

  /** Posts a request and blocks until it is answered; throws the request's error. */
  call(req: Request): unknown {
    let out: WriterReply | undefined;
    this.#post(req, (r) => {
      out = r;
    });
    this.#waitUntil(() => out !== undefined);
    const r = out as WriterReply;
    if (!r.ok) throw replyError(r.error as NonNullable<WriterReply['error']>);
    return r.value;
  }

  /** Blocks until every request posted so far is answered (their callbacks have run). */
  settle(): void {
    this.#waitUntil(() => this.#pending.size === 0);
  }

  #waitUntil(done: () => boolean): void {
    const deadline = Date.now() + CALL_TIMEOUT_MS;
    while (!done()) {
      const seen = Atomics.load(this.#signal, 0);
      const m = receiveMessageOnPort(this.#port);
      if (m !== undefined) {
        this.#dispatch(m.message as WriterReply);
        continue;
      }
      if (this.#dead !== undefined) return;
      if (Atomics.load(this.#signal, 1) !== 0) {
        // The thread is gone: take the replies it sent before exiting, then fail what is left.
        for (let m2 = receiveMessageOnPort(this.#port); m2 !== undefined; m2 = receiveMessageOnPort(this.#port)) {
          this.#dispatch(m2.message as WriterReply);
        }
        if (!done()) this.#fail(new Error('the writer thread exited'));
        return;
      }
      if (Date.now() > deadline) {
        this.#fail(new Error(`no answer from the writer thread in ${CALL_TIMEOUT_MS / 1000} s`));
        return;
      }
      Atomics.wait(this.#signal, 0, seen, 1000);
    }
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Stops the thread at once (its connections close with it); what is pending fails. For tests. */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
    this.#fail(new Error('the writer thread was terminated'));
  }
}

let shared: WriterThread | undefined;
let nextConn = 1;

/**
 * The process's writer thread (started on first use, unref'd: it never keeps the process alive)
 * and a fresh connection number for one store. A thread that died is replaced for new stores.
 */
export function writerConnection(): { thread: WriterThread; conn: number } {
  // (also how tests reach the shared thread)
  if (shared === undefined || shared.dead) shared = new WriterThread();
  return { thread: shared, conn: nextConn++ };
}
