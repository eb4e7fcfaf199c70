/**
 * Turns log lines of one broker into aggregated Kafka observations.
 *
 * Per tick, identical decisions (client IP, server pod, resource, operation, allowed, principal)
 * become one observation with a count and the latest time. Parsing is memoised per message text
 * (authorizer logs repeat the same few hundred messages millions of times), bounded in size.
 */
import type { KafkaObservation, WorkloadRef } from '../../mapper/contract/index.ts';
import {
  type AuthorizerDecision,
  MARKER,
  parseAuthorizerMessage,
  prefixTime,
  prefixTimeBytes,
  type SkipReason,
} from './parse.ts';
import type { KafkaStats } from './stats.ts';

export interface ProcessorOptions {
  serverPod: WorkloadRef;
  stats: KafkaStats;
  /** Receive time, used when a line carries no timestamp. */
  now: () => number;
  /** Bound on memoised messages and on distinct pending observations. Default 20,000. */
  maxEntries?: number;
  /** Called with pending observations when the pending map reaches its bound (early flush). */
  overflow?: (obs: KafkaObservation[]) => void;
}

interface Memo {
  decision: AuthorizerDecision | SkipReason;
  key: string;
  /** The pending observation of this decision in generation `gen` (saves a map lookup). */
  obs: KafkaObservation | undefined;
  gen: number;
}

// Accepted observation times (the contract rejects anything outside).
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;

export class KafkaLineProcessor {
  readonly #server: WorkloadRef;
  readonly #stats: KafkaStats;
  readonly #now: () => number;
  readonly #max: number;
  readonly #overflow: ((obs: KafkaObservation[]) => void) | undefined;
  #memo = new Map<string, Memo>();
  #pending = new Map<string, KafkaObservation>();
  /** Incremented by drain(): memoised pending observations of older generations are stale. */
  #gen = 0;
  /** Last prefix seen and its time: consecutive lines often share the stamp prefix. */
  #lastPrefix = '';
  #lastPrefixTime: number | undefined;

  constructor(opts: ProcessorOptions) {
    this.#server = opts.serverPod;
    this.#stats = opts.stats;
    this.#now = opts.now;
    this.#max = opts.maxEntries ?? 20_000;
    this.#overflow = opts.overflow;
  }

  get serverPod(): WorkloadRef {
    return this.#server;
  }

  /** One complete log line (any logger). */
  line(line: string): void {
    const p = line.indexOf(MARKER);
    if (p < 0) return;
    this.message(line, p);
  }

  /** A line known to hold the marker at `p`. */
  message(line: string, p: number): void {
    this.#decided(this.#memoFor(line.slice(p)), line.slice(0, p));
  }

  /** Fast path from the line scanner: the line is `buf[start, end)`, the marker at `marker`. */
  marked(buf: Buffer, start: number, marker: number, end: number): void {
    // Strimzi's log4j1 layout ends with ` [thread-name]`; leave it out of the memo key so the
    // handful of request-handler threads do not multiply the distinct messages.
    let keyEnd = end;
    if (buf[end - 1] === 0x5d) {
      for (let k = end - 2, stop = Math.max(marker, end - 256); k > stop; k--) {
        if (buf[k] === 0x5b) {
          if (buf[k - 1] === 0x20 && buf[k - 2] === 0x29) keyEnd = k - 1;
          break;
        }
      }
    }
    // The memo key is decoded straight from the buffer, without the line prefix.
    const memo = this.#memoFor(buf.toString('utf8', marker, keyEnd));
    if (typeof memo.decision === 'string') {
      this.#stats.skip(memo.decision);
      return;
    }
    this.#record(memo, memo.decision, prefixTimeBytes(buf, start, marker));
  }

  #memoFor(body: string): Memo {
    let memo = this.#memo.get(body);
    if (memo === undefined) {
      memo = newMemo(parseAuthorizerMessage(body));
      if (this.#memo.size >= this.#max) this.#memo.clear();
      this.#memo.set(body, memo);
    }
    return memo;
  }

  #decided(memo: Memo, prefix: string): void {
    const d = memo.decision;
    if (typeof d === 'string') {
      this.#stats.skip(d);
      return;
    }
    let time: number | undefined;
    if (prefix === this.#lastPrefix) time = this.#lastPrefixTime;
    else {
      time = prefixTime(prefix);
      this.#lastPrefix = prefix;
      this.#lastPrefixTime = time;
    }
    this.#record(memo, d, time);
  }

  #record(memo: Memo, d: AuthorizerDecision, lineTime: number | undefined): void {
    this.#stats.parsed++;
    const time = lineTime === undefined || lineTime < MIN_TIME || lineTime > MAX_TIME ? this.#now() : lineTime;
    let prev = memo.gen === this.#gen ? memo.obs : undefined;
    if (prev === undefined) {
      prev = this.#pending.get(memo.key);
      if (prev !== undefined) {
        memo.obs = prev;
        memo.gen = this.#gen;
      }
    }
    if (prev !== undefined) {
      prev.count++;
      if (time > prev.time) prev.time = time;
      return;
    }
    if (this.#pending.size >= this.#max && this.#overflow) this.#overflow(this.drain());
    const obs: KafkaObservation = {
      kind: 'kafka',
      clientIp: d.clientIp,
      serverPod: this.#server,
      resourceType: d.resourceType,
      resourceName: d.resourceName,
      patternType: d.patternType,
      operation: d.operation,
      allowed: d.allowed,
      principal: d.principal,
      count: 1,
      time,
    };
    this.#pending.set(memo.key, obs);
    memo.obs = obs;
    memo.gen = this.#gen;
  }

  /** Skipped line reported by the line scanner (too long). */
  tooLong(): void {
    this.#stats.skip('line-too-long');
  }

  /** Pending observations since the last drain (and forgets them). */
  drain(): KafkaObservation[] {
    const out = [...this.#pending.values()];
    this.#pending = new Map();
    this.#gen++;
    return out;
  }

  get pendingSize(): number {
    return this.#pending.size;
  }
}

function newMemo(d: AuthorizerDecision | SkipReason): Memo {
  return { decision: d, key: typeof d === 'string' ? '' : decisionKey(d), obs: undefined, gen: -1 };
}

/** Aggregation key of a decision (the server pod is fixed per processor). */
export function decisionKey(d: AuthorizerDecision): string {
  return `${d.clientIp}\0${d.resourceType}\0${d.patternType}\0${d.resourceName}\0${d.operation}\0${d.allowed ? 1 : 0}\0${d.principal}`;
}
