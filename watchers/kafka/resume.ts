/**
 * Exactly-once reading of a Kubernetes pod log across reconnects.
 *
 * Every line carries the kubelet's RFC3339Nano stamp (`timestamps=true`). We remember the newest
 * stamp delivered and the lines delivered with exactly that stamp. A reconnect asks for
 * `sinceTime` = that stamp truncated to whole seconds (what the API server's metav1.Time keeps), so
 * the server re-sends a few lines; those with an older stamp, or the same stamp and already
 * delivered, are dropped. Nothing is skipped: every line newer than the last one delivered is
 * re-sent, including the one that was cut in half.
 */
import { parseStampAt } from './parse.ts';

const SECONDS_OFFSET = 200_000_000_000;

/** Sortable key of a stamp at the start of `line`: `SSSSSSSSSSSS.NNNNNNNNN`, or undefined. */
export function stampKey(line: string): string | undefined {
  const st = parseStampAt(line, 0);
  if (st === undefined || line.charCodeAt(st.end) !== 32) return undefined;
  // Fixed width without padStart: seconds offset to always 12 digits, nanos padded to 9.
  return `${st.seconds + SECONDS_OFFSET}.${(st.nanos + 1_000_000_000).toString().slice(1)}`;
}

export class ResumeTracker {
  /** Newest stamp delivered. */
  #lastKey: string | undefined;
  /** Lines delivered with exactly #lastKey (multiset). */
  readonly #atLast = new Map<string, number>();
  /** While replaying after a reconnect: lines at the boundary still expected once more. */
  #replay: Map<string, number> | undefined;
  #replayKey: string | undefined;

  /** `sinceTime` for the next request, or undefined to read from the start. */
  sinceTime(): string | undefined {
    if (this.#lastKey === undefined) return undefined;
    const seconds = Number(this.#lastKey.slice(0, 12)) - SECONDS_OFFSET;
    return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
  }

  /** Call when a new stream starts (after `sinceTime()` was used for it). */
  reconnect(): void {
    if (this.#lastKey === undefined) return;
    this.#replayKey = this.#lastKey;
    this.#replay = new Map(this.#atLast);
  }

  /** Forget everything (a new pod: its log starts from scratch). */
  reset(): void {
    this.#lastKey = undefined;
    this.#atLast.clear();
    this.#replay = undefined;
    this.#replayKey = undefined;
  }

  /** True when `line` is new and should be processed; records it. */
  accept(line: string): boolean {
    const key = stampKey(line);
    if (key === undefined) return true; // no stamp: cannot de-duplicate, never drop
    if (this.#replay !== undefined && this.#replayKey !== undefined) {
      if (key < this.#replayKey) return false;
      if (key === this.#replayKey) {
        const left = this.#replay.get(line) ?? 0;
        if (left > 0) {
          this.#replay.set(line, left - 1);
          return false;
        }
      } else {
        this.#replay = undefined;
        this.#replayKey = undefined;
      }
    }
    if (this.#lastKey === undefined || key > this.#lastKey) {
      this.#lastKey = key;
      this.#atLast.clear();
      this.#atLast.set(line, 1);
    } else if (key === this.#lastKey) {
      this.#atLast.set(line, (this.#atLast.get(line) ?? 0) + 1);
    }
    return true;
  }
}
