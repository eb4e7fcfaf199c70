/**
 * Tails a Kafka log file (e.g. `kafka-authorizer.log`), following rotation and truncation.
 *
 * - Reads the file from the start, then polls every `pollMs`.
 * - Rotation (the path now names another inode, as log4j's RollingFileAppender leaves it): the
 *   old file is read to its end (its last line completes it), then the new file from its start.
 * - Truncation (same inode, size below our offset, as `copytruncate` leaves it): the held partial
 *   line is dropped and reading restarts at offset 0.
 * - A missing file: one log line, then it is waited for (follow mode) or an error (once mode).
 * A partial last line is held until its newline arrives (or, in once mode, the end of the file).
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { sleep } from '../../mapper/client/index.ts';
import { CallmapError } from '../../mapper/contract/index.ts';
import { LineScanner } from './lines.ts';
import { type KafkaNativeAddon, NativeLineFeed, type ReadMode } from './native.ts';
import type { KafkaLineProcessor } from './processor.ts';
import type { KafkaStats } from './stats.ts';

export interface FileTailerOptions {
  path: string;
  processor: KafkaLineProcessor;
  stats: KafkaStats;
  log: (line: string) => void;
  once: boolean;
  /** Default 500 ms. */
  pollMs?: number;
  /** Read buffer size (two of them; TypeScript path only). Default 1 MiB. */
  chunkBytes?: number;
  /**
   * Native path: the most bytes one NativeLineFeed.readFile call reads before control returns
   * here (abort checks between calls). Default 16 MiB; with `scanThreads: 2`, up to 256 MiB at
   * once when that much is waiting.
   */
  sliceBytes?: number;
  /**
   * Native path: 2 = a backlog of at least `splitMin` bytes (default 32 MiB) is read in one call
   * and scanned on two threads, split at a newline, the second half's counts merged (ADR 0064,
   * second round, and 0065; same results). Default 1: it costs about 10% more CPU and shortens
   * wall time only when a second core is idle.
   */
  scanThreads?: 1 | 2;
  /** Tests: the backlog from which scanThreads 2 splits (default 32 MiB). */
  splitMin?: number;
  /** Tests: how the native scanner reads (default `auto`: ranges of 256 KiB or more mapped, ADR 0065). */
  read?: ReadMode;
  /** The native scanner; without it the TypeScript LineScanner is used. */
  native?: KafkaNativeAddon;
}

export const KAFKA_LOG_FILE = 'KAFKA_LOG_FILE';

const errCode = (e: unknown): string | undefined => (e as { code?: string })?.code;

export class FileTailer {
  readonly #o: FileTailerOptions;
  readonly #scanner: LineScanner | NativeLineFeed;
  #buf: Buffer | undefined;
  #buf2: Buffer | undefined;
  #counted = 0;
  /** Rotations and truncations followed. */
  rotations = 0;
  truncations = 0;

  constructor(o: FileTailerOptions) {
    this.#o = o;
    const p = o.processor;
    this.#scanner =
      o.native === undefined
        ? new LineScanner(
            { line: (l) => p.line(l), marked: (b, s, q, e) => p.marked(b, s, q, e), tooLong: () => p.tooLong() },
            { all: false },
          )
        : new NativeLineFeed({
            addon: o.native,
            processor: p,
            stats: o.stats,
            mode: 'file',
            splitMin: o.scanThreads === 2 ? (o.splitMin ?? 32 << 20) : 0,
            ...(o.read === undefined ? {} : { read: o.read }),
          });
  }

  #countLines(): void {
    this.#o.stats.linesRead += this.#scanner.lines - this.#counted;
    this.#counted = this.#scanner.lines;
  }

  async #open(signal: AbortSignal): Promise<{ fh: FileHandle; ino: number } | undefined> {
    let logged = false;
    while (!signal.aborted) {
      try {
        const fh = await open(this.#o.path, 'r');
        // the inode only tells rotations apart, which once mode never looks for
        if (this.#o.once) return { fh, ino: 0 };
        const st = await fh.stat();
        return { fh, ino: st.ino };
      } catch (e) {
        const why = errCode(e) ?? (e as Error).message;
        if (this.#o.once)
          throw new CallmapError(
            KAFKA_LOG_FILE,
            `cannot read --log-file ${this.#o.path} (${why}); check the path and permissions`,
          );
        if (!logged) this.#o.log(`kafka watcher: cannot open ${this.#o.path} (${why}); waiting for it to appear`);
        logged = true;
        await sleep(this.#o.pollMs ?? 500, signal);
      }
    }
    return undefined;
  }

  /**
   * Reads from `pos` to the current end; returns the new offset. Native scanner: the C module
   * reads and scans on libuv's thread pool (NativeLineFeed.readFile; ranges of 256 KiB or more
   * through a memory mapping, SIGBUS-safe against truncation: ADR 0065). TypeScript: double-buffered,
   * the next chunk is read (on libuv's thread pool) while the current one is scanned.
   */
  async #drain(fh: FileHandle, pos: number, signal: AbortSignal): Promise<number> {
    const sc = this.#scanner;
    if (sc instanceof NativeLineFeed) {
      // The C module reads (pread into its own buffer) and scans on the thread pool.
      let p = pos;
      while (!signal.aborted) {
        let slice = this.#o.sliceBytes;
        if (slice === undefined) {
          slice = 16 << 20;
          // two threads: a large backlog (start-up, --once) in one call, which the C module splits
          if (this.#o.scanThreads === 2) slice = Math.max(slice, Math.min((await fh.stat()).size - p, 256 << 20));
        }
        const r = await sc.readFile(fh.fd, p, slice);
        p += r.bytes;
        this.#countLines();
        if (r.eof) break;
      }
      return p;
    }
    let p = pos;
    this.#buf ??= Buffer.allocUnsafe(this.#o.chunkBytes ?? 1 << 20);
    this.#buf2 ??= Buffer.allocUnsafe(this.#buf.length);
    let cur = this.#buf;
    let next = this.#buf2;
    let pending: Promise<{ bytesRead: number }> | undefined = fh.read(cur, 0, cur.length, p);
    try {
      while (!signal.aborted) {
        const { bytesRead }: { bytesRead: number } = await (pending as Promise<{ bytesRead: number }>);
        pending = undefined;
        if (bytesRead === 0) break;
        pending = fh.read(next, 0, next.length, p + bytesRead);
        this.#scanner.push(cur.subarray(0, bytesRead));
        p += bytesRead;
        this.#countLines();
        [cur, next] = [next, cur];
      }
    } finally {
      // an abort can leave a read in flight: let it finish (its buffer is ours) and ignore it
      await pending?.catch(() => {});
    }
    return p;
  }

  /** Follow mode runs until `signal` aborts (never rejects on I/O trouble); once mode reads the file and resolves. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.#run(signal);
    } finally {
      if (this.#scanner instanceof NativeLineFeed) this.#scanner.close();
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    let cur = await this.#open(signal);
    if (cur === undefined) return;
    let pos = 0;
    try {
      for (;;) {
        try {
          pos = await this.#drain(cur.fh, pos, signal);
        } catch (e) {
          if (this.#o.once) throw new CallmapError(KAFKA_LOG_FILE, `error reading ${this.#o.path}: ${String(e)}`);
          this.#o.log(`kafka watcher: error reading ${this.#o.path}: ${errCode(e) ?? String(e)}; retrying`);
        }
        if (this.#o.once) {
          this.#scanner.end();
          this.#countLines();
          return;
        }
        await sleep(this.#o.pollMs ?? 500, signal);
        if (signal.aborted) return;
        let st: { ino: number; size: number } | undefined;
        try {
          st = await stat(this.#o.path);
        } catch {
          st = undefined; // rotated away and not yet recreated: keep reading the old file
        }
        if (st === undefined) continue;
        if (st.ino !== cur.ino) {
          pos = await this.#drain(cur.fh, pos, signal).catch(() => pos);
          this.#scanner.end();
          this.#countLines();
          await cur.fh.close().catch(() => {});
          this.rotations++;
          const next = await this.#open(signal);
          if (next === undefined) return;
          cur = next;
          pos = 0;
          this.#o.log(`kafka watcher: ${this.#o.path} was rotated; following the new file`);
        } else if (st.size < pos) {
          if (this.#scanner.discard() > 0) this.#o.stats.partialLinesDiscarded++;
          this.truncations++;
          pos = 0;
          this.#o.log(`kafka watcher: ${this.#o.path} was truncated; reading it from the start`);
        }
      }
    } finally {
      await cur.fh.close().catch(() => {});
    }
  }
}
