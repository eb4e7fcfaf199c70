/** Counters of the Kafka watcher, exported as Prometheus metrics by cli.ts. */
import { SKIP_REASONS, type SkipReason } from './parse.ts';

export class KafkaStats {
  /** Complete log lines read (every logger). */
  linesRead = 0;
  /** Authorizer lines parsed into a decision. */
  parsed = 0;
  /** Log streams re-opened after a disconnect or a pod restart. */
  reconnects = 0;
  /** Observations handed to the reporter (after aggregation). */
  observationsReported = 0;
  /** Lines dropped because they were already read before a reconnect. */
  duplicateLines = 0;
  /** Partial lines dropped when a stream was cut (they are re-read after the reconnect). */
  partialLinesDiscarded = 0;
  readonly skipped: Record<SkipReason, number> = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<
    SkipReason,
    number
  >;

  skip(reason: SkipReason): void {
    this.skipped[reason]++;
  }

  get skippedTotal(): number {
    let n = 0;
    for (const r of SKIP_REASONS) n += this.skipped[r];
    return n;
  }

  snapshot(): Record<string, number | Record<string, number>> {
    return {
      linesRead: this.linesRead,
      parsed: this.parsed,
      skipped: { ...this.skipped },
      reconnects: this.reconnects,
      observationsReported: this.observationsReported,
      duplicateLines: this.duplicateLines,
      partialLinesDiscarded: this.partialLinesDiscarded,
    };
  }
}
