/**
 * Streaming line splitter over Buffers, safe at chunk boundaries: a line split across chunks is
 * delivered once, whole; a partial last line is held until more data arrives, `end()` (deliver it)
 * or `discard()` (drop it, e.g. when a log stream was cut and will be re-read from a timestamp).
 *
 * Two modes:
 * - `all`: every line is decoded and delivered (pod logs need each line's timestamp).
 * - marker-only: lines without the marker are counted but never decoded (fast path for files
 *   and the benchmark; `Buffer.indexOf` jumps straight to the next marker).
 *
 * Memory is bounded: a line longer than `maxLineBytes` is cut off, its rest skipped up to the next
 * newline, and reported once through `tooLong` (in both modes, whether or not it holds the marker).
 */

export interface LineSink {
  /**
   * A complete line, without `\n` (and without a trailing `\r`), decoded, and as the bytes
   * `buf[start, end)` (valid only during the call).
   */
  line(line: string, buf: Buffer, start: number, end: number): void;
  /**
   * Marker mode only, optional fast path: a line holding the marker, as bytes `[start, end)` of
   * `buf` (valid only during the call; `end` excludes `\n` and `\r`) with the marker at `marker`.
   * When absent, `line()` gets the decoded line instead.
   */
  marked?(buf: Buffer, start: number, marker: number, end: number): void;
  /** A line longer than the limit was dropped. */
  tooLong?(): void;
}

export interface LineScannerOptions {
  /** Deliver every line (true) or only lines containing `marker` (false). */
  all: boolean;
  marker?: string;
  /** Default 64 KiB. */
  maxLineBytes?: number;
}

const NL = 0x0a;

export class LineScanner {
  readonly #sink: LineSink;
  readonly #all: boolean;
  readonly #marker: Buffer;
  readonly #max: number;
  /** Held partial line pieces (copies, never views into caller chunks). */
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** True while skipping the rest of an over-long line. */
  #skipping = false;
  /** Complete lines seen (delivered or not). */
  lines = 0;

  constructor(sink: LineSink, opts: LineScannerOptions) {
    this.#sink = sink;
    this.#all = opts.all;
    this.#marker = Buffer.from(opts.marker ?? 'Principal = ');
    this.#max = opts.maxLineBytes ?? 64 * 1024;
  }

  /** Bytes of the partial line currently held. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  push(chunk: Buffer): void {
    let start = 0;
    if (this.#heldBytes > 0 || this.#skipping) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.#hold(chunk, 0, chunk.length);
        return;
      }
      this.#hold(chunk, 0, nl);
      this.#finishHeld();
      start = nl + 1;
    }
    const lastNl = chunk.lastIndexOf(NL);
    if (lastNl >= start) {
      if (this.#all) this.#scanAll(chunk, start, lastNl);
      else this.#scanMarked(chunk, start, lastNl);
      start = lastNl + 1;
    }
    if (start < chunk.length) this.#hold(chunk, start, chunk.length);
  }

  /** End of input: the held partial line (if any) is a real last line; deliver it. */
  end(): void {
    if (this.#heldBytes > 0 || this.#skipping) this.#finishHeld();
  }

  /** Drop the held partial line without delivering it. Returns how many bytes were dropped. */
  discard(): number {
    const n = this.#heldBytes;
    this.#held = [];
    this.#heldBytes = 0;
    this.#skipping = false;
    return n;
  }

  #hold(chunk: Buffer, from: number, to: number): void {
    if (this.#skipping || to <= from) return;
    if (this.#heldBytes + (to - from) > this.#max) {
      this.#held = [];
      this.#heldBytes = 0;
      this.#skipping = true;
      return;
    }
    this.#held.push(Buffer.from(chunk.subarray(from, to)));
    this.#heldBytes += to - from;
  }

  #finishHeld(): void {
    this.lines++;
    if (this.#skipping) {
      this.#skipping = false;
      this.#sink.tooLong?.();
      return;
    }
    const buf = this.#held.length === 1 ? (this.#held[0] as Buffer) : Buffer.concat(this.#held);
    this.#held = [];
    this.#heldBytes = 0;
    if (this.#all) this.#deliver(buf, 0, buf.length, -1);
    else {
      const q = buf.indexOf(this.#marker);
      if (q >= 0) this.#deliver(buf, 0, buf.length, q);
    }
  }

  #deliver(buf: Buffer, s: number, e: number, marker: number): void {
    if (e - s > this.#max) {
      this.#sink.tooLong?.();
      return;
    }
    const end = e > s && buf[e - 1] === 0x0d ? e - 1 : e;
    if (marker >= 0 && this.#sink.marked !== undefined && marker < end) this.#sink.marked(buf, s, marker, end);
    else this.#sink.line(buf.toString('utf8', s, end), buf, s, end);
  }

  #scanAll(buf: Buffer, start: number, lastNl: number): void {
    let s = start;
    while (s <= lastNl) {
      const e = buf.indexOf(NL, s);
      this.lines++;
      this.#deliver(buf, s, e, -1);
      s = e + 1;
    }
  }

  #countLines(buf: Buffer, from: number, to: number): void {
    // counts the lines ending in [from, to); an over-long one is reported like in `all` mode
    let i = from;
    while (i < to) {
      const e = buf.indexOf(NL, i);
      if (e < 0 || e >= to) break;
      this.lines++;
      if (e - i > this.#max) this.#sink.tooLong?.();
      i = e + 1;
    }
  }

  #scanMarked(buf: Buffer, start: number, lastNl: number): void {
    let pos = start;
    const marker = this.#marker;
    while (pos <= lastNl) {
      const q = buf.indexOf(marker, pos);
      if (q < 0 || q > lastNl) {
        this.#countLines(buf, pos, lastNl + 1);
        return;
      }
      const prevNl = buf.lastIndexOf(NL, q);
      const ls = prevNl < pos ? pos : prevNl + 1;
      if (ls > pos) this.#countLines(buf, pos, ls);
      const le = buf.indexOf(NL, q);
      this.lines++;
      this.#deliver(buf, ls, le, q);
      pos = le + 1;
    }
  }
}
