/**
 * A resilient list+watch loop for one resource kind.
 *
 * client-node's own `ListWatch`/`makeInformer` stops for good on any watch error other than 410,
 * so this loop drives list and watch itself (through a `ListWatchSource`, which `sources.ts`
 * implements with client-node's typed list calls and `Watch`):
 *
 * - list (when we have no resourceVersion) → `replace(items)` → watch from the list's version;
 * - every event advances the resourceVersion; BOOKMARKs only advance it;
 * - 410 Gone (HTTP status or an ERROR event with code 410) → relist at once;
 * - any other error, a hung list, a silent watch (idle timeout) or an end that comes too soon →
 *   re-watch from the last version after a jittered exponential backoff;
 * - a watch that ends normally after a healthy life (the server's `timeoutSeconds`) → re-watch at once.
 *
 * Timers are unref'd, the loop never rejects, `shutdown()` aborts the watch and waits for the loop.
 */

export interface WatchHandle {
  abort(): void;
}

export interface ListResult {
  items: readonly unknown[];
  resourceVersion: string;
}

export interface ListWatchSource {
  list(): Promise<ListResult>;
  /**
   * Start a watch from `resourceVersion`. `onEvent` gets each event; `onDone` is called once when
   * the stream ends (err null) or fails. Resolves with a handle that aborts the watch.
   */
  watch(
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

export interface InformerHandlers {
  /** A full list: the set of objects is exactly `items` as of now. */
  replace(items: readonly unknown[]): void;
  /** One ADDED / MODIFIED / DELETED event. */
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: unknown): void;
}

export interface InformerOptions {
  /** First retry delay (ms). Default 250. */
  backoffInitialMs?: number;
  /** Retry delay cap (ms). Default 30,000. */
  backoffMaxMs?: number;
  /** A list that takes longer than this is abandoned and retried (ms). Default 60,000. */
  listTimeoutMs?: number;
  /** Server-side watch timeout range (s): each watch asks for a random value in it. Default [300, 600]. */
  watchTimeoutSeconds?: readonly [number, number];
  /** A watch with no data (events or bookmarks) for this long is restarted (ms). Default watch timeout + 60 s. */
  idleTimeoutMs?: number;
  /** A watch that ends sooner than this without any event counts as a failure (ms). Default 1,000. */
  minHealthyWatchMs?: number;
  /** Seams for tests. */
  random?: () => number;
  now?: () => number;
  /** Told about every error the loop recovers from (for logging). */
  onError?: (kind: string, err: unknown) => void;
}

export interface InformerStats {
  kind: string;
  synced: boolean;
  /** Completed lists (initial + relists). */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Times the loop restarted after an error, an idle/hung request or an early end. */
  restarts: number;
  /** Relists caused by 410 Gone. */
  gone: number;
  events: number;
  /** Handler exceptions (the event is dropped, the loop goes on). */
  handlerErrors: number;
  lastError: string | undefined;
  /** Delay before the latest retry (ms); 0 before any. */
  lastBackoffMs: number;
  resourceVersion: string;
}

/** `healthy`: the watch delivered events or lived at least minHealthyWatchMs before it ended. */
type Outcome =
  | { kind: 'ended'; healthy: boolean }
  | { kind: 'gone' }
  | { kind: 'error'; err: unknown; healthy?: boolean };

class Gone extends Error {}

/** HTTP status of a client-node / fetch error, when it has one. */
export function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { statusCode?: unknown; code?: unknown; status?: unknown };
  for (const v of [e.statusCode, e.code, e.status]) if (typeof v === 'number') return v;
  return undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const s = statusOf(err);
    return s === undefined ? err.message : `${err.message} (HTTP ${s})`;
  }
  return String(err);
}

/**
 * Delay before retry number `attempt` (1-based): exponential from `initialMs`, capped at `maxMs`,
 * with "equal jitter" (half fixed, half random) so many informers retrying at once spread out.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random01: number): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return cap / 2 + (cap / 2) * random01;
}

export class ResilientInformer {
  readonly kind: string;
  private readonly source: ListWatchSource;
  private readonly handlers: InformerHandlers;
  private readonly opts: Required<Omit<InformerOptions, 'onError' | 'idleTimeoutMs'>> & {
    idleTimeoutMs: number | undefined;
    onError: ((kind: string, err: unknown) => void) | undefined;
  };
  private stopped = true;
  private loop: Promise<void> | undefined;
  private resourceVersion = '';
  private isSynced = false;
  private syncWaiters: Array<() => void> = [];
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private currentWatch: { handle: WatchHandle | undefined; finish: (o: Outcome) => void } | undefined;
  private readonly counters = { lists: 0, watches: 0, restarts: 0, gone: 0, events: 0, handlerErrors: 0 };
  private lastError: string | undefined;
  private lastBackoffMs = 0;
  /** Rejects the list in flight (shutdown must not wait for a hung list). */
  private cancelList: (() => void) | undefined;

  constructor(kind: string, source: ListWatchSource, handlers: InformerHandlers, options: InformerOptions = {}) {
    this.kind = kind;
    this.source = source;
    this.handlers = handlers;
    this.opts = {
      backoffInitialMs: options.backoffInitialMs ?? 250,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      listTimeoutMs: options.listTimeoutMs ?? 60_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? [300, 600],
      idleTimeoutMs: options.idleTimeoutMs,
      minHealthyWatchMs: options.minHealthyWatchMs ?? 1000,
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      onError: options.onError,
    };
  }

  /** Start the loop (idempotent). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run().catch((err: unknown) => {
      // run() catches everything; this is a last line of defence so nothing floats.
      this.lastError = describe(err);
    });
  }

  synced(): boolean {
    return this.isSynced;
  }

  /** Resolves true once the first list has been applied, false after `timeoutMs` (or on shutdown). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.isSynced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.isSynced);
      };
      const timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      // Ref'd on purpose: someone awaits this promise, and the loop's own timers are unref'd, so
      // against an unreachable API server an unref'd timer let the process (or a test) run out of
      // work and exit before the promise settled. It is bounded by timeoutMs and cleared on sync.
      this.syncWaiters.push(done);
    });
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    this.currentWatch?.finish({ kind: 'ended', healthy: true });
    if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
    this.wake?.();
    this.cancelList?.();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
    await this.loop;
  }

  stats(): InformerStats {
    return {
      kind: this.kind,
      synced: this.isSynced,
      ...this.counters,
      lastError: this.lastError,
      lastBackoffMs: this.lastBackoffMs,
      resourceVersion: this.resourceVersion,
    };
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let outcome: Outcome;
      try {
        if (this.resourceVersion === '') {
          const list = await this.listWithTimeout();
          if (this.stopped) break;
          this.safely(() => this.handlers.replace(list.items));
          this.resourceVersion = list.resourceVersion;
          this.counters.lists++;
          attempt = 0;
          this.markSynced();
        }
        outcome = await this.watchOnce();
      } catch (err) {
        outcome = err instanceof Gone || statusOf(err) === 410 ? { kind: 'gone' } : { kind: 'error', err };
      }
      if (this.stopped) break;
      if (outcome.kind === 'ended' && outcome.healthy) {
        attempt = 0;
        continue;
      }
      this.counters.restarts++;
      if (outcome.kind === 'gone') {
        this.counters.gone++;
        this.lastError = '410 Gone: resourceVersion too old, relisting';
        this.resourceVersion = '';
        // The first relist is immediate; repeated 410s back off like any other failure.
        if (attempt++ === 0) continue;
      } else {
        // A watch that worked for a while and then failed (connection reset, a client-side request
        // timeout) starts the backoff afresh: only consecutive failures grow the delay.
        if (outcome.kind === 'error' && outcome.healthy === true) attempt = 0;
        const err = outcome.kind === 'error' ? outcome.err : new Error('watch ended early without events');
        this.lastError = describe(err);
        this.opts.onError?.(this.kind, err);
        attempt++;
      }
      this.lastBackoffMs = this.backoff(attempt);
      await this.sleep(this.lastBackoffMs);
    }
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) {
        resolve();
        return;
      }
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = undefined;
        this.wake?.();
      }, ms);
      this.sleepTimer.unref();
    });
  }

  private listWithTimeout(): Promise<ListResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`list of ${this.kind} took longer than ${this.opts.listTimeoutMs} ms`)),
        this.opts.listTimeoutMs,
      );
      timer.unref();
      this.cancelList = () => {
        clearTimeout(timer);
        reject(new Error('informer shut down'));
      };
      this.source.list().then(
        (r) => {
          clearTimeout(timer);
          this.cancelList = undefined;
          resolve(r);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.cancelList = undefined;
          reject(err);
        },
      );
    });
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.handlerErrors++;
      this.lastError = `handler: ${describe(err)}`;
    }
  }

  private watchOnce(): Promise<Outcome> {
    const [lo, hi] = this.opts.watchTimeoutSeconds;
    const timeoutSeconds = Math.round(lo + (hi - lo) * this.opts.random());
    const idleMs = this.opts.idleTimeoutMs ?? (timeoutSeconds + 60) * 1000;
    const startedAt = this.opts.now();
    let sawEvent = false;
    let settled = false;
    let idleTimer: NodeJS.Timeout | undefined;

    return new Promise<Outcome>((resolve) => {
      const state: { handle: WatchHandle | undefined; finish: (o: Outcome) => void } = {
        handle: undefined,
        finish: (o) => {
          if (settled) return;
          settled = true;
          if (idleTimer !== undefined) clearTimeout(idleTimer);
          this.currentWatch = undefined;
          try {
            state.handle?.abort();
          } catch {
            // aborting a finished request is harmless
          }
          resolve(o);
        },
      };
      this.currentWatch = state;
      const armIdle = (): void => {
        if (idleTimer !== undefined) clearTimeout(idleTimer);
        idleTimer = setTimeout(
          () => state.finish({ kind: 'error', err: new Error(`watch of ${this.kind} silent for ${idleMs} ms`) }),
          idleMs,
        );
        idleTimer.unref();
      };
      armIdle();
      const onEvent = (type: string, obj: unknown): void => {
        if (settled) return;
        armIdle();
        if (type === 'ERROR') {
          const code = (obj as { code?: unknown } | null)?.code;
          state.finish(
            code === 410
              ? { kind: 'gone' }
              : { kind: 'error', err: new Error(`watch ERROR event: ${JSON.stringify(obj)?.slice(0, 300)}`) },
          );
          return;
        }
        const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
          sawEvent = true;
          this.counters.events++;
          this.safely(() => this.handlers.event(type, obj));
        } else if (type !== 'BOOKMARK') {
          return;
        }
        if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
      };
      const onDone = (err: unknown): void => {
        const healthy = sawEvent || this.opts.now() - startedAt >= this.opts.minHealthyWatchMs;
        if (err) {
          state.finish(statusOf(err) === 410 ? { kind: 'gone' } : { kind: 'error', err, healthy });
          return;
        }
        state.finish({ kind: 'ended', healthy });
      };
      this.counters.watches++;
      this.source.watch(this.resourceVersion, timeoutSeconds, onEvent, onDone).then(
        (handle) => {
          state.handle = handle;
          // The watch was abandoned (idle / shutdown) before the request even connected.
          if (settled) {
            try {
              handle.abort();
            } catch {
              // ignore
            }
          }
        },
        (err: unknown) => state.finish({ kind: 'error', err }),
      );
    });
  }
}
