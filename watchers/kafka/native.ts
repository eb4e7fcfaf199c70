/**
 * The native fast path (watchers/native/src/kafka.c, target `callmap_kafka`): a chunk scanner and
 * pre-aggregator in C. It finds the authorizer lines of whole chunks, keeps the partial last line
 * across chunks, parses each distinct message once (a port of parse.ts, checked against it by
 * test/unit/kafka/native-parity.test.ts) and counts lines per message with the newest line time;
 * on flush the processor turns the counts into the same observations as the TypeScript path
 * (docs/adr/0063).
 *
 * The addon is optional: `loadKafkaNative()` returns undefined when it was not built, and the
 * sources then use LineScanner + KafkaLineProcessor.marked() (the same results, slower).
 */
import { createRequire } from 'node:module';
import type { KafkaLineProcessor, ParsedKey } from './processor.ts';
import type { KafkaStats } from './stats.ts';

type Handle = object;

/** The C module's functions (see kafka.c). */
export interface KafkaNativeAddon {
  create(pod: boolean, maxLineBytes: number, scalar: boolean): Handle;
  push(h: Handle, buf: Buffer, offset: number, counters: Float64Array): number;
  end(h: Handle, counters: Float64Array): boolean;
  discard(h: Handle): number;
  heldBytes(h: Handle): number;
  /**
   * The counts since the last flush: undefined (nothing), the classic form [rows, text,
   * decisions, first id, skips] (KafkaLineProcessor.absorb; the fields of decisions `from`… or,
   * without `from`, of those not sent before), or with the packed arguments (the processor's
   * generation, its pending observations so far, how many new ones may be added) the packed form
   * [text, new observations, merges, fixes, skips, lines parsed] (KafkaLineProcessor.absorbPacked;
   * kafka.c flush_packed); the classic form when there would be more new ones than `room`.
   */
  flush(h: Handle, reset: boolean, from?: number, gen?: number, base?: number, room?: number): FlushResult | undefined;
  /** Tests: the C message parser's result over `msg` (see kafka.c js_parse). */
  parse(msg: Buffer): number[];
  /** Tests: the C key end rule (processor.ts messageKeyEnd). */
  keyEnd(buf: Buffer, marker: number, end: number): number;
  reconnect(h: Handle): void;
  resetResume(h: Handle): void;
  lastSeconds(h: Handle): number | undefined;
  close(h: Handle): void;
  /**
   * File mode: reads the file `fd` from `position` with pread (a read-ahead thread, into the
   * handle's own reused buffers) and scans it on libuv's thread pool, until `maxBytes` were read (status 0), the end of the
   * file (1) or a full key table (2: flush with reset and call again; the rest of the buffer is
   * scanned first). Rejects with the errno code (`EIO`, …) on a read error. When at least
   * `splitMin` bytes (0 or absent: never) are to be read, the range is split after a
   * newline near its middle (tests: the first newline from `splitAt`) and the two halves are
   * scanned on two threads, the second into a second table merged afterwards (ADR 0064, "Second
   * round"): the same result as one sequential scan. `map` (0 auto, default: ranges of at least
   * 256 KiB are memory-mapped and scanned in place, SIGBUS-safe against truncation, ADR 0065; 1
   * always map (tests); 2 never: pread only).
   */
  readFile(
    h: Handle,
    fd: number,
    position: number,
    maxBytes: number,
    counters: Float64Array,
    readBytes?: number,
    noThread?: boolean,
    splitMin?: number,
    splitAt?: number,
    map?: number,
  ): Promise<[number, number]>;
}

export type ClassicFlush = [Float64Array, Buffer, Float64Array, number, Float64Array];
export type PackedFlush = [Buffer | undefined, Float64Array, Float64Array, Float64Array, Float64Array, number];
export type FlushResult = ClassicFlush | PackedFlush;

const FUNCTIONS = [
  'create',
  'push',
  'end',
  'discard',
  'heldBytes',
  'flush',
  'reconnect',
  'resetResume',
  'lastSeconds',
  'close',
  'parse',
  'keyEnd',
  'readFile',
] as const;

let loaded: { addon: KafkaNativeAddon | undefined; why: string } | undefined;

/** The native module, or undefined (with the reason) when it is not built or not loadable. */
export function loadKafkaNative(): { addon: KafkaNativeAddon | undefined; why: string } {
  if (loaded !== undefined) return loaded;
  try {
    const m = createRequire(import.meta.url)('@callmap/watchers-native').loadKafka() as Record<string, unknown>;
    const missing = FUNCTIONS.filter((f) => typeof m[f] !== 'function');
    loaded =
      missing.length === 0
        ? { addon: m as unknown as KafkaNativeAddon, why: 'native scanner (callmap_kafka)' }
        : { addon: undefined, why: `callmap_kafka lacks ${missing.join(', ')} (rebuild watchers/native)` };
  } catch (e) {
    loaded = {
      addon: undefined,
      why: `native scanner not built (${String((e as Error)?.message ?? e).split('\n')[0]})`,
    };
  }
  return loaded;
}

export type FeedMode = 'file' | 'pod';

export interface NativeFeedOptions {
  addon: KafkaNativeAddon;
  processor: KafkaLineProcessor;
  stats: KafkaStats;
  /** `file`: only marker lines are looked at. `pod`: every line is de-duplicated (resume.ts). */
  mode: FeedMode;
  /** Default 64 KiB. */
  maxLineBytes?: number;
  /** Tests: use the portable scalar scan instead of the AVX2 one. */
  scalar?: boolean;
  /** Tests: bytes per pread in readFile (default: the C buffer, 256 KiB). */
  readBytes?: number;
  /** Tests: readFile without its read-ahead thread. */
  noReadAhead?: boolean;
  /** readFile splits ranges of at least this many bytes over two threads (default 0: never; FileTailer scanThreads). */
  splitMin?: number;
  /** Tests: where readFile looks for the split's newline (absolute file offset; default the middle). */
  splitAt?: number;
  /** Tests: `map` always memory-maps the range read, `pread` never does (default `auto`: from 256 KiB). */
  read?: ReadMode;
  /**
   * Tests: `classic` hands every flush over as decision ids and fields (absorb); default `packed`
   * when the processor allows it (new observations as numbers and one text: absorbPacked).
   */
  handOff?: 'packed' | 'classic';
}

export type ReadMode = 'auto' | 'map' | 'pread';
const READ_MODE: Record<ReadMode, number> = { auto: 0, map: 1, pread: 2 };

/**
 * One log source's native scanner. Same contract as LineScanner + the ResumeTracker (pod mode):
 * push() any chunks, end() or discard() the partial last line. Stats are updated as lines are
 * scanned (lines read, duplicates, over-long lines); decisions reach the processor when it
 * drains (every report tick), when the key table is full, and on close().
 */
export class NativeLineFeed {
  readonly #a: KafkaNativeAddon;
  readonly #h: Handle;
  readonly #p: KafkaLineProcessor;
  readonly #stats: KafkaStats;
  readonly #pod: boolean;
  /**
   * lines, duplicates, too long, accepted, reads split over two threads, merged, ranges read
   * through a mapping, of those cut short by a truncation (cumulative, written by C).
   */
  readonly #c = new Float64Array(8);
  /** What was already added to the stats. */
  #seen = [0, 0, 0];
  #memos: ParsedKey[] = [];
  /** This feed's current key table (a new object after each reset): the packed flushes' owner. */
  #epoch: object = {};
  readonly #packed: boolean;
  #closed = false;
  readonly #readBytes: number | undefined;
  readonly #noReadAhead: boolean;
  readonly #splitMin: number | undefined;
  readonly #splitAt: number | undefined;
  readonly #read: number;

  constructor(o: NativeFeedOptions) {
    this.#a = o.addon;
    this.#p = o.processor;
    this.#stats = o.stats;
    this.#pod = o.mode === 'pod';
    this.#readBytes = o.readBytes;
    this.#noReadAhead = o.noReadAhead === true;
    this.#splitMin = o.splitMin;
    this.#splitAt = o.splitAt;
    this.#read = READ_MODE[o.read ?? 'auto'];
    this.#packed = o.handOff !== 'classic';
    this.#h = o.addon.create(this.#pod, o.maxLineBytes ?? 64 * 1024, o.scalar === true);
    this.#p.attach(this);
  }

  /** Complete lines seen (delivered or not, duplicates included). */
  get lines(): number {
    return this.#c[0] as number;
  }

  /** Pod mode: lines accepted (not duplicates, not over-long). */
  get accepted(): number {
    return this.#c[3] as number;
  }

  /** readFile: ranges scanned on two threads, and how many of them were merged (not read again). */
  get splitReads(): { split: number; merged: number } {
    return { split: this.#c[4] as number, merged: this.#c[5] as number };
  }

  /** readFile: ranges read through a mapping, and of those cut short because the file was truncated. */
  get mappedReads(): { mapped: number; cut: number } {
    return { mapped: this.#c[6] as number, cut: this.#c[7] as number };
  }

  get heldBytes(): number {
    return this.#a.heldBytes(this.#h);
  }

  push(chunk: Buffer): void {
    let off = 0;
    for (;;) {
      off = this.#a.push(this.#h, chunk, off, this.#c);
      this.#count();
      if (off >= chunk.length) return;
      this.flush(true); // the key table is full: hand over and empty it, then go on
    }
  }

  /** End of input: the partial last line is a real line. */
  end(): void {
    while (!this.#a.end(this.#h, this.#c)) this.flush(true);
    this.#count();
  }

  /**
   * Reads the file `fd` from `position`, at most `maxBytes`, in C (see KafkaNativeAddon.readFile):
   * the same scanning as push() of the same bytes, without a JavaScript buffer per chunk and off
   * the event loop (libuv's thread pool, plus a read-ahead thread that preads the next buffers). Returns the bytes read and whether the end of the file was reached. Only
   * flush() may be called on this feed until it settles (the processor's drain does that).
   */
  async readFile(fd: number, position: number, maxBytes: number): Promise<{ bytes: number; eof: boolean }> {
    let bytes = 0;
    for (;;) {
      const [got, status] = await this.#a.readFile(
        this.#h,
        fd,
        position + bytes,
        Math.max(0, maxBytes - bytes),
        this.#c,
        this.#readBytes,
        this.#noReadAhead,
        this.#splitMin,
        this.#splitAt,
        this.#read,
      );
      bytes += got;
      this.#count();
      if (status !== 2) return { bytes, eof: status === 1 };
      this.flush(true); // the key table is full: hand over and empty it, then go on
    }
  }

  /** Drops the partial last line; returns its length. */
  discard(): number {
    return this.#a.discard(this.#h);
  }

  /** Hands the aggregated lines to the processor. */
  flush(reset: boolean): void {
    if (this.#closed) return;
    const p = this.#p;
    const room = this.#packed ? p.packedRoom(this.#epoch) : -1;
    const r =
      room < 0
        ? this.#a.flush(this.#h, reset, this.#memos.length)
        : this.#a.flush(this.#h, reset, this.#memos.length, p.generation, p.pendingSize, room);
    if (r !== undefined) {
      if (r.length === 6) p.absorbPacked(this.#epoch, r[0], r[1], r[2], r[3], r[4], r[5]);
      else p.absorb(r[0], r[1], r[2], r[3], r[4], this.#memos);
    }
    if (reset) {
      this.#memos = [];
      this.#epoch = {};
    }
  }

  /** Flushes, detaches from the processor and frees the C memory. */
  close(): void {
    if (this.#closed) return;
    this.flush(false);
    this.#closed = true;
    this.#p.detach(this);
    this.#a.close(this.#h);
  }

  #count(): void {
    const c = this.#c;
    const lines = c[0] as number;
    const dups = c[1] as number;
    const tooLong = c[2] as number;
    const [l0, d0, t0] = this.#seen as [number, number, number];
    if (this.#pod) {
      this.#stats.linesRead += lines - dups - (l0 - d0);
      this.#stats.duplicateLines += dups - d0;
    }
    this.#stats.skipped['line-too-long'] += tooLong - t0;
    this.#seen = [lines, dups, tooLong];
  }

  // --- resume (pod mode): the ResumeTracker's state lives in C

  /** `sinceTime` for the next request, or undefined to read from the start. */
  sinceTime(): string | undefined {
    const s = this.#a.lastSeconds(this.#h);
    if (s === undefined) return undefined;
    return new Date(s * 1000).toISOString().replace('.000Z', 'Z');
  }

  reconnect(): void {
    this.#a.reconnect(this.#h);
  }

  reset(): void {
    this.#a.resetResume(this.#h);
  }
}
