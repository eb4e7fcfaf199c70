/**
 * Turns log lines of one broker into aggregated Kafka observations.
 *
 * Per tick, identical decisions (client IP, server pod, resource, operation, allowed, principal)
 * become one observation with a count and the latest time. Parsing is memoised per message text
 * (authorizer logs repeat the same few hundred messages millions of times), bounded in size.
 */
import { isAscii } from 'node:buffer';
import type {
  KafkaObservation,
  KafkaOperation,
  KafkaPatternType,
  KafkaResourceType,
  WorkloadRef,
} from '../../mapper/contract/index.ts';
import { type AuthorizerDecision, MARKER, parseAuthorizerMessage, prefixTimeBytes, type SkipReason } from './parse.ts';
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

/** A parsed message text (memoised). */
export interface ParsedKey {
  decision: DecisionFacts | SkipReason;
  key: string;
  /** The pending observation of this decision in generation `gen` (saves a map lookup). */
  obs: KafkaObservation | undefined;
  gen: number;
}

const MARKER_BYTES = Buffer.from(MARKER);

/** What an observation is made of (the rest of AuthorizerDecision is for tests and logs). */
export type DecisionFacts = Pick<
  AuthorizerDecision,
  'principal' | 'allowed' | 'operation' | 'clientIp' | 'resourceType' | 'patternType' | 'resourceName'
>;

/** The C parser's codes (watchers/native/src/kafka.c parse_msg, map_operation, …). */
export const NATIVE_SKIPS: readonly (SkipReason | undefined)[] = [
  undefined,
  'garbled',
  'unknown-operation',
  'unknown-resource-type',
  'bad-host',
];
export const NATIVE_OPERATIONS: readonly KafkaOperation[] = [
  'consume',
  'produce',
  'create',
  'delete',
  'alter',
  'describe',
  'ClusterAction',
  'DescribeConfigs',
  'AlterConfigs',
  'IdempotentWrite',
  'all',
];
export const NATIVE_RESOURCE_TYPES: readonly KafkaResourceType[] = [
  'Topic',
  'Group',
  'Cluster',
  'TransactionalId',
  'DelegationToken',
  'User',
];
export const NATIVE_PATTERN_TYPES: readonly KafkaPatternType[] = ['LITERAL', 'PREFIXED', 'MATCH', 'ANY'];

// Accepted observation times (the contract rejects anything outside).
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;

export class KafkaLineProcessor {
  readonly #server: WorkloadRef;
  readonly #stats: KafkaStats;
  readonly #now: () => number;
  readonly #max: number;
  readonly #overflow: ((obs: KafkaObservation[]) => void) | undefined;
  #memo = new Map<string, ParsedKey>();
  readonly #feeds = new Set<{ flush(reset: boolean): void }>();
  /** Pending observations by decisionKey (all of #out, unless #owner holds them unkeyed). */
  #pending = new Map<string, KafkaObservation>();
  /** Pending observations in first-added order (what drain() returns). */
  #out: KafkaObservation[] = [];
  /**
   * The native feed (table epoch) whose packed flushes added every observation of #out, which
   * are then not in #pending yet (keyed only when another source adds: see #keyAll).
   */
  #owner: object | undefined;
  /** Incremented by drain(): memoised pending observations of older generations are stale. */
  #gen = 0;

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

  /**
   * One complete log line (any logger), as a string. Parsed over its UTF-8 bytes, exactly like
   * the line scanner's fast path, so strings and bytes give the same result.
   */
  line(line: string): void {
    if (!line.includes(MARKER)) return;
    const b = Buffer.from(line);
    this.marked(b, 0, b.indexOf(MARKER_BYTES), b.length);
  }

  /** A complete line `buf[start, end)` and its decoded text `line` (the pod-log path). */
  lineBytes(line: string, buf: Buffer, start: number, end: number): void {
    if (!line.includes(MARKER)) return;
    // The first marker in the text is the first in the bytes (ASCII always decodes to itself).
    this.marked(buf, start, buf.indexOf(MARKER_BYTES, start), end);
  }

  /** Fast path from the line scanner: the line is `buf[start, end)`, the marker at `marker`. */
  marked(buf: Buffer, start: number, marker: number, end: number): void {
    // The memo key is decoded straight from the buffer, without the line prefix and without a
    // Strimzi ` [thread]` suffix that cannot change the parse (see messageKeyEnd).
    const memo = this.#memoFor(buf.toString('utf8', marker, messageKeyEnd(buf, marker, end)));
    if (typeof memo.decision === 'string') {
      this.#stats.skip(memo.decision);
      return;
    }
    this.#stats.parsed++;
    const lineTime = prefixTimeBytes(buf, start, marker);
    const time = lineTime === undefined || lineTime < MIN_TIME || lineTime > MAX_TIME ? this.#now() : lineTime;
    this.#add(memo, memo.decision, 1, time);
  }

  /**
   * Lines pre-aggregated by the native scanner (native.ts): `rows` holds (decision id, line count,
   * newest valid line time or NaN, 1 when some line had no usable time); `decisions` 7 numbers per
   * decision first seen since the previous flush (ids `first`…), from the C parser: the lengths of
   * principal, client IP and resource name (in `text`, with the decision's key: see decisionKey), then the codes of
   * operation, resource type, pattern type and the verdict; `skips` the skipped lines by reason
   * (NATIVE_SKIPS). `memos` maps the scanner's decision ids and is extended here. Same result as
   * `marked()` once per line.
   */
  absorb(
    rows: Float64Array,
    text: Buffer,
    decisions: Float64Array,
    first: number,
    skips: Float64Array,
    memos: ParsedKey[],
  ): void {
    if (first !== memos.length) throw new Error(`kafka native scanner: decision id ${first}, expected ${memos.length}`);
    this.#keyAll();
    for (const [i, n] of skips.entries()) {
      const reason = NATIVE_SKIPS[i];
      if (reason !== undefined && n > 0) this.#stats.skipped[reason] += n;
    }
    // Per decision `text` holds principal \0 IP \0 name \0 and four code digits: its key. When it
    // is all ASCII (byte offsets are then string offsets) one decode serves every field and the
    // key is a slice of it; else each field is decoded on its own and the key built from them.
    const str = decisions.length > 0 && isAscii(text) ? text.toString('latin1') : undefined;
    let s = 0;
    for (let k = 0; k < decisions.length; k += 7) {
      const a = s + (decisions[k] as number);
      const b = a + 1 + (decisions[k + 1] as number);
      const c = b + 1 + (decisions[k + 2] as number);
      const d: DecisionFacts = {
        principal: str === undefined ? text.toString('utf8', s, a) : str.slice(s, a),
        clientIp: str === undefined ? text.toString('utf8', a + 1, b) : str.slice(a + 1, b),
        resourceName: str === undefined ? text.toString('utf8', b + 1, c) : str.slice(b + 1, c),
        operation: NATIVE_OPERATIONS[decisions[k + 3] as number] as KafkaOperation,
        resourceType: NATIVE_RESOURCE_TYPES[decisions[k + 4] as number] as KafkaResourceType,
        patternType: NATIVE_PATTERN_TYPES[decisions[k + 5] as number] as KafkaPatternType,
        allowed: decisions[k + 6] === 1,
      };
      memos.push(newMemo(d, str?.slice(s, c + 5)));
      s = c + 5;
    }
    for (let r = 0; r < rows.length; r += 4) {
      const memo = memos[rows[r] as number] as ParsedKey;
      const count = rows[r + 1] as number;
      const d = memo.decision;
      if (typeof d === 'string') {
        this.#stats.skipped[d] += count;
        continue;
      }
      this.#stats.parsed += count;
      const t = rows[r + 2] as number;
      let time = Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
      if (rows[r + 3] === 1) {
        const now = this.#now();
        if (now > time) time = now;
      }
      this.#add(memo, d, count, time);
    }
  }

  /**
   * Packed hand-over (ADR 0065, cold drain): how many new observations a packed flush of the
   * native feed table epoch `owner` may add, or -1 when it must use the classic form (absorb):
   * other sources already added observations in this generation, so they must be merged by key.
   */
  packedRoom(owner: object): number {
    if (this.#out.length > 0 && this.#owner !== owner) return -1;
    return this.#overflow ? this.#max - this.#out.length : 0x7fffffff;
  }

  /** The generation of the pending observations (drain() starts a new one). */
  get generation(): number {
    return this.#gen;
  }

  /**
   * Lines pre-aggregated by the native scanner, packed form (kafka.c flush_packed), for decisions
   * of the native feed table epoch `owner` (after packedRoom(owner) >= 0, with the C side told
   * this generation and pendingSize): `news` 9 numbers per decision with no pending observation
   * yet, which become pending observations pendingSize…: the lengths of principal, client IP and
   * resource name (one after the other in `text`), the codes of operation, resource type, pattern
   * type and the verdict, the line count and the newest valid time (`fixes`: index in news and
   * newest valid time or NaN of those where a line had no usable time); `merges` (pending index,
   * line count, newest valid time or NaN, 1 when a line had no usable time) for the others;
   * `parsed` the lines counted. No memo, no key, no map per decision: the observations stay
   * unkeyed until another source adds to this generation (#keyAll). Same result as absorb() and
   * as marked() once per line.
   */
  absorbPacked(
    owner: object,
    text: Buffer | undefined,
    news: Float64Array,
    merges: Float64Array,
    fixes: Float64Array,
    skips: Float64Array,
    parsed: number,
  ): void {
    for (const [i, n] of skips.entries()) {
      const reason = NATIVE_SKIPS[i];
      if (reason !== undefined && n > 0) this.#stats.skipped[reason] += n;
    }
    this.#stats.parsed += parsed;
    const out = this.#out;
    if (text !== undefined && news.length > 0) {
      const base = out.length;
      newObservations(out, text, news, this.#server);
      for (let i = 0; i < fixes.length; i += 2) {
        const o = out[base + (fixes[i] as number)] as KafkaObservation;
        o.time = this.#lineTime(fixes[i + 1] as number, true);
      }
      this.#owner = owner;
    }
    for (let r = 0; r < merges.length; r += 4) {
      const o = out[merges[r] as number] as KafkaObservation;
      o.count += merges[r + 1] as number;
      const time = this.#lineTime(merges[r + 2] as number, merges[r + 3] === 1);
      if (time > o.time) o.time = time;
    }
  }

  /** A row's time: its newest valid line time (NaN: none), or now() when newer and a line had none. */
  #lineTime(t: number, noTime: boolean): number {
    let time = Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
    if (noTime) {
      const now = this.#now();
      if (now > time) time = now;
    }
    return time;
  }

  /** Puts the packed (unkeyed) pending observations into #pending, before any lookup by key. */
  #keyAll(): void {
    if (this.#owner === undefined) return;
    // every observation made here carries a principal (string): its facts are a DecisionFacts
    for (const o of this.#out) this.#pending.set(decisionKey(o as DecisionFacts), o);
    this.#owner = undefined;
  }

  /** Native scanners feeding this processor: drain() flushes them first. */
  attach(feed: { flush(reset: boolean): void }): void {
    this.#feeds.add(feed);
  }

  detach(feed: { flush(reset: boolean): void }): void {
    this.#feeds.delete(feed);
  }

  #memoFor(body: string): ParsedKey {
    let memo = this.#memo.get(body);
    if (memo === undefined) {
      memo = newMemo(parseAuthorizerMessage(body));
      if (this.#memo.size >= this.#max) this.#memo.clear();
      this.#memo.set(body, memo);
    }
    return memo;
  }

  #add(memo: ParsedKey, d: DecisionFacts, count: number, time: number): void {
    let prev = memo.gen === this.#gen ? memo.obs : undefined;
    if (prev === undefined) {
      this.#keyAll();
      prev = this.#pending.get(memo.key);
      if (prev !== undefined) {
        memo.obs = prev;
        memo.gen = this.#gen;
      }
    }
    if (prev !== undefined) {
      prev.count += count;
      if (time > prev.time) prev.time = time;
      return;
    }
    if (this.#out.length >= this.#max && this.#overflow) this.#overflow(this.#take());
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
      count,
      time,
    };
    this.#pending.set(memo.key, obs);
    this.#out.push(obs);
    memo.obs = obs;
    memo.gen = this.#gen;
  }

  /** Skipped line reported by the line scanner (too long). */
  tooLong(): void {
    this.#stats.skip('line-too-long');
  }

  /** Pending observations since the last drain (and forgets them); native scanners are flushed first. */
  drain(): KafkaObservation[] {
    for (const f of this.#feeds) f.flush(false);
    return this.#take();
  }

  #take(): KafkaObservation[] {
    const out = this.#out;
    this.#out = [];
    this.#pending = new Map();
    this.#owner = undefined;
    this.#gen++;
    return out;
  }

  get pendingSize(): number {
    return this.#out.length;
  }
}

/**
 * Appends to `out` the observations of a packed flush's `news` (see absorbPacked), in the
 * object layout of #add. One decode of `text` when it is ASCII (byte offsets are then string
 * offsets), else each field decoded on its own (the bytes next to a field are ASCII, so each
 * decodes as in the message). A plain function with one object shape: cheap to run cold.
 */
function newObservations(out: KafkaObservation[], text: Buffer, news: Float64Array, serverPod: WorkloadRef): void {
  const str = isAscii(text) ? text.toString('latin1') : undefined;
  let s = 0;
  for (let k = 0; k < news.length; k += 9) {
    const a = s + (news[k] as number);
    const b = a + (news[k + 1] as number);
    const c = b + (news[k + 2] as number);
    out.push({
      kind: 'kafka',
      clientIp: str === undefined ? text.toString('utf8', a, b) : str.slice(a, b),
      serverPod,
      resourceType: NATIVE_RESOURCE_TYPES[news[k + 4] as number] as KafkaResourceType,
      resourceName: str === undefined ? text.toString('utf8', b, c) : str.slice(b, c),
      patternType: NATIVE_PATTERN_TYPES[news[k + 5] as number] as KafkaPatternType,
      operation: NATIVE_OPERATIONS[news[k + 3] as number] as KafkaOperation,
      allowed: news[k + 6] === 1,
      principal: str === undefined ? text.toString('utf8', s, a) : str.slice(s, a),
      count: news[k + 7] as number,
      time: news[k + 8] as number,
    });
    s = c;
  }
}

/** `key`: the decision's key when the caller has it (the native scanner's flush text). */
function newMemo(d: DecisionFacts | SkipReason, key?: string): ParsedKey {
  return { decision: d, key: typeof d === 'string' ? '' : (key ?? decisionKey(d)), obs: undefined, gen: -1 };
}

const code = (i: number): string => String.fromCharCode(48 + i);

/**
 * Aggregation key of a decision (the server pod is fixed per processor): principal, client IP,
 * resource name, then operation, resource type, pattern type and verdict as one character each
 * (their NATIVE_* indexes), the layout the native scanner's flush writes (kafka.c js_flush).
 */
export function decisionKey(d: DecisionFacts): string {
  return `${d.principal}\0${d.clientIp}\0${d.resourceName}\0${code(NATIVE_OPERATIONS.indexOf(d.operation))}${code(NATIVE_RESOURCE_TYPES.indexOf(d.resourceType))}${code(NATIVE_PATTERN_TYPES.indexOf(d.patternType))}${d.allowed ? '1' : '0'}`;
}

const isLoggerChar = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 36;

/**
 * End of the memo key of the line `buf[.., end)` whose message starts at `marker`. Strimzi's log4j1
 * layout ends with ` [thread-name]`; it is left out (so the handful of request-handler threads do
 * not multiply the distinct messages) only when it cannot change the parse: the text before it
 * ends with ` (logger.name)` (not right after `=`, so inside the resource text of any dialect) and
 * has no `[` after its last `]` (else LAYOUT_SUFFIX could match an earlier ` (x) [` up to the final
 * `]`), and the thread name holds no space and no `]`, so none of the parser's search patterns
 * (all with two or more spaces) can occur in it and the layout-suffix rule matches at the same
 * place either way. The native
 * scanner (watchers/native/src/kafka.c key_end) applies the same rule.
 */
export function messageKeyEnd(buf: Buffer, marker: number, end: number): number {
  if (end < 2 || buf[end - 1] !== 0x5d) return end;
  const stop = Math.max(marker, end - 256);
  for (let k = end - 2; k > stop; k--) {
    const c = buf[k] as number;
    if (c === 0x20 || c === 0x5d) return end;
    if (c !== 0x5b) continue;
    if (k < marker + 2 || buf[k - 1] !== 0x20 || buf[k - 2] !== 0x29) return end;
    const r = k - 2;
    let l = r;
    while (l > marker && isLoggerChar(buf[l - 1] as number)) l--;
    if (l === r) return end;
    if (l < marker + 2 || buf[l - 1] !== 0x28 || buf[l - 2] !== 0x20) return end;
    if (l - 2 > marker && buf[l - 3] === 0x3d) return end;
    // an earlier ` (L') [` with no `]` after it would make LAYOUT_SUFFIX match there instead
    const region = buf.subarray(marker, l - 2);
    if (region.lastIndexOf(0x5b) > region.lastIndexOf(0x5d)) return end;
    return k - 1;
  }
  return end;
}
