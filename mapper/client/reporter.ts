/**
 * ObservationReporter: what the sniffer and the watchers use to deliver observations.
 *
 * - Aggregates identical observations between flushes (one entry per distinct pair, counts summed).
 * - Seals batches of at most `maxBatchSize`; each batch keeps its batchId across retries so the
 *   mapper counts it once.
 * - Bounded: at most `maxQueuedObservations` wait (pending + sealed); beyond that the OLDEST are
 *   dropped and counted in `stats().droppedObservations`.
 * - A batch that fails after the transport's retries stays queued for the next flush (nothing is
 *   lost while the mapper restarts). A batch the mapper rejects with 4xx is dropped and counted.
 * - Periodic flush never overlaps, its timer is unref'd, and it cannot reject.
 */
import { randomUUID } from 'node:crypto';
import type { Observation, ReportBatch, ReporterIdentity } from '../contract/index.ts';
import { type RetryOptions, retryingTransport, type Transport } from './transport.ts';

export interface ReporterOptions {
  transport: Transport;
  reporter: ReporterIdentity;
  /** Periodic flush interval for start(), ms. Default 10 s. */
  flushIntervalMs?: number;
  /** Observations per batch. Default 1000. */
  maxBatchSize?: number;
  /** Bound on observations waiting (pending + queued batches). Default 100,000. */
  maxQueuedObservations?: number;
  /** Retry policy wrapped around the transport. Pass `false` when the transport already retries. */
  retry?: RetryOptions | false;
  now?: () => number;
  newBatchId?: () => string;
  log?: (line: string) => void;
}

export interface ReporterStats {
  pendingObservations: number;
  queuedBatches: number;
  queuedObservations: number;
  sentBatches: number;
  sentObservations: number;
  duplicateBatches: number;
  /** Attempts (flushes) that ended without delivery; the batch stayed queued. */
  failedSends: number;
  /** Batches the mapper refused with 4xx (dropped). */
  rejectedBatches: number;
  droppedObservations: number;
  addedObservations: number;
}

interface Sealed {
  batchId: string;
  observations: Observation[];
}

/** Aggregation key: observations with the same key are the same fact and only their counts add up. */
export function observationKey(o: Observation): string {
  switch (o.kind) {
    case 'dns':
      return `d\0${o.clientIp}\0${o.name}\0${o.ips.join(',')}`;
    case 'tcp':
      return `t\0${o.clientIp}\0${o.serverIp}\0${o.serverPort}\0${o.source}`;
    case 'http':
      return `h\0${o.client.namespace}\0${o.client.name}\0${o.server.namespace}\0${o.server.name}\0${o.serverService ?? ''}\0${o.method ?? ''}\0${o.path ?? ''}\0${o.port ?? ''}\0${o.reporter ?? ''}`;
    case 'workload-tcp':
      return `w\0${o.client.namespace}\0${o.client.name}\0${o.server.namespace}\0${o.server.name}\0${o.port ?? ''}`;
    case 'kafka':
      return `k\0${o.clientIp}\0${o.serverPod.namespace}\0${o.serverPod.name}\0${o.resourceType}\0${o.patternType}\0${o.resourceName}\0${o.operation}\0${o.allowed}\0${o.principal ?? ''}`;
  }
}

const countOf = (o: Observation): number => o.count ?? 1;

export class ObservationReporter {
  readonly #transport: Transport;
  readonly #reporter: ReporterIdentity;
  readonly #interval: number;
  readonly #maxBatch: number;
  readonly #maxQueued: number;
  readonly #now: () => number;
  readonly #newBatchId: () => string;
  readonly #log: (line: string) => void;
  #pending = new Map<string, Observation>();
  #queue: Sealed[] = [];
  #queuedObs = 0;
  /** Observations in the batch currently being sent (not in #queue). */
  #sendingObs = 0;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #closed = false;
  #stats = {
    sentBatches: 0,
    sentObservations: 0,
    duplicateBatches: 0,
    failedSends: 0,
    rejectedBatches: 0,
    droppedObservations: 0,
    addedObservations: 0,
  };

  constructor(opts: ReporterOptions) {
    this.#transport = opts.retry === false ? opts.transport : retryingTransport(opts.transport, opts.retry ?? {});
    this.#reporter = opts.reporter;
    this.#interval = opts.flushIntervalMs ?? 10_000;
    this.#maxBatch = opts.maxBatchSize ?? 1000;
    this.#maxQueued = opts.maxQueuedObservations ?? 100_000;
    this.#now = opts.now ?? Date.now;
    this.#newBatchId = opts.newBatchId ?? (() => `${this.#reporter.component}-${randomUUID()}`);
    this.#log = opts.log ?? (() => {});
  }

  /** Adds one observation (aggregated with an identical one already pending). Never throws. */
  add(o: Observation): void {
    if (this.#closed) {
      this.#stats.droppedObservations += 1;
      return;
    }
    this.#stats.addedObservations += 1;
    const key = observationKey(o);
    const prev = this.#pending.get(key);
    if (prev) {
      prev.count = countOf(prev) + countOf(o);
      if (o.time > prev.time) prev.time = o.time;
      if (prev.kind === 'dns' && o.kind === 'dns' && o.ttl !== undefined) prev.ttl = Math.min(prev.ttl ?? o.ttl, o.ttl);
      return;
    }
    this.#pending.set(key, { ...o, count: countOf(o) });
    if (this.#pending.size >= this.#maxBatch) this.#seal();
    this.#enforceBound();
  }

  /** Sends everything added so far. Resolves when the queue is empty or a send failed (batches stay queued). */
  async flush(signal?: AbortSignal): Promise<void> {
    this.#seal();
    // Single flight: wait for a running send loop, then run one that covers what is queued now.
    while (this.#inflight) await this.#inflight;
    if (this.#queue.length === 0) return;
    const run = this.#drain(signal);
    this.#inflight = run;
    try {
      await run;
    } finally {
      this.#inflight = undefined;
    }
  }

  /** Starts periodic flushing. The timer is unref'd; a failing flush is logged, never thrown. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      if (this.#inflight) return; // never overlap
      this.flush().catch((e: unknown) => this.#log(`callmap reporter: flush failed: ${String(e)}`));
    }, this.#interval);
    this.#timer.unref();
  }

  /** Stops the timer and flushes what is left, giving up after `deadlineMs`. */
  async shutdown(deadlineMs = 10_000): Promise<ReporterStats> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), deadlineMs);
    t.unref();
    try {
      await this.flush(ac.signal);
    } catch (e) {
      this.#log(`callmap reporter: final flush failed: ${String(e)}`);
    } finally {
      clearTimeout(t);
      this.#closed = true;
    }
    const left = this.#queuedObs + this.#pending.size;
    if (left > 0) this.#log(`callmap reporter: ${left} observations could not be delivered before shutdown`);
    return this.stats();
  }

  stats(): ReporterStats {
    return {
      ...this.#stats,
      pendingObservations: this.#pending.size,
      queuedBatches: this.#queue.length,
      queuedObservations: this.#queuedObs + this.#sendingObs,
    };
  }

  #seal(): void {
    if (this.#pending.size === 0) return;
    const observations = [...this.#pending.values()];
    this.#pending = new Map();
    for (let i = 0; i < observations.length; i += this.#maxBatch) {
      const chunk = observations.slice(i, i + this.#maxBatch);
      this.#queue.push({ batchId: this.#newBatchId(), observations: chunk });
      this.#queuedObs += chunk.length;
    }
  }

  /** Drops the oldest observations (oldest queued batch first, then oldest pending) while over the bound. */
  #enforceBound(): void {
    let over = this.#queuedObs + this.#pending.size - this.#maxQueued;
    while (over > 0 && this.#queue.length > 0) {
      const oldest = this.#queue[0] as Sealed;
      const n = Math.min(over, oldest.observations.length);
      oldest.observations.splice(0, n);
      this.#queuedObs -= n;
      this.#stats.droppedObservations += n;
      over -= n;
      if (oldest.observations.length === 0) this.#queue.shift();
    }
    for (const key of this.#pending.keys()) {
      if (over <= 0) break;
      this.#pending.delete(key);
      this.#stats.droppedObservations += 1;
      over -= 1;
    }
  }

  #requeue(batch: Sealed): void {
    this.#sendingObs = 0;
    this.#queue.unshift(batch);
    this.#queuedObs += batch.observations.length;
    this.#enforceBound();
  }

  async #drain(signal?: AbortSignal): Promise<void> {
    while (this.#queue.length > 0) {
      // The batch in flight leaves the queue so the bound never trims what is being sent;
      // it goes back to the front when the send fails.
      const batch = this.#queue.shift() as Sealed;
      this.#queuedObs -= batch.observations.length;
      this.#sendingObs = batch.observations.length;
      const body: ReportBatch = {
        batchId: batch.batchId,
        reporter: this.#reporter,
        sentAt: this.#now(),
        observations: batch.observations,
      };
      let status: number;
      let text = '';
      try {
        const res = await this.#transport.send('POST', '/api/v1/reports', JSON.stringify(body), signal);
        status = res.status;
        text = res.body;
      } catch (e) {
        this.#requeue(batch);
        this.#stats.failedSends += 1;
        this.#log(
          `callmap reporter: mapper unreachable (${(e as { code?: string })?.code ?? String(e)}); ${this.#queuedObs} observations kept for retry`,
        );
        return;
      }
      this.#sendingObs = 0;
      if (status >= 200 && status < 300) {
        this.#stats.sentBatches += 1;
        this.#stats.sentObservations += batch.observations.length;
        if (text.includes('"duplicate":true')) this.#stats.duplicateBatches += 1;
        continue;
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429) {
        this.#stats.rejectedBatches += 1;
        this.#stats.droppedObservations += batch.observations.length;
        this.#log(`callmap reporter: mapper rejected batch ${batch.batchId} with ${status}: ${text.slice(0, 300)}`);
        continue;
      }
      this.#requeue(batch);
      this.#stats.failedSends += 1;
      this.#log(`callmap reporter: mapper answered ${status}; ${this.#queuedObs} observations kept for retry`);
      return;
    }
  }
}
