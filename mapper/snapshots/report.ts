/**
 * The report document (JSON for tools, versioned; schema in report.schema.json and docs/reports.md)
 * and its file naming. Pure.
 */
import { snapshotMeta as meta, summarize } from './diff.ts';
import type { Snapshot, SnapshotAclEntry, SnapshotDiff, SnapshotMeta, SnapshotSummary } from './types.ts';

export const REPORT_KIND = 'callmap.report';
/** Bump on any incompatible change to the JSON report; additive fields keep the version. */
export const REPORT_VERSION = 1;

export const REPORT_FORMATS = ['md', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface Report {
  kind: typeof REPORT_KIND;
  reportVersion: typeof REPORT_VERSION;
  /** ms since the epoch, and the same instant as ISO 8601 UTC. */
  generatedAt: number;
  generatedAtIso: string;
  mapperUrl: string;
  snapshot: SnapshotMeta;
  /** The snapshot the diff compares with; null for the first snapshot (nothing to compare). */
  previous: SnapshotMeta | null;
  summary: SnapshotSummary;
  diff: Omit<SnapshotDiff, 'from' | 'to'>;
  intents: Snapshot['intents'];
  kafkaAcl: SnapshotAclEntry[];
}

export function buildReport(snapshot: Snapshot, diff: SnapshotDiff, opts: { mapperUrl: string; now: number }): Report {
  const { from: _from, to: _to, ...changes } = diff;
  return {
    kind: REPORT_KIND,
    reportVersion: REPORT_VERSION,
    generatedAt: opts.now,
    generatedAtIso: new Date(opts.now).toISOString(),
    mapperUrl: opts.mapperUrl,
    snapshot: meta(snapshot),
    previous: diff.from ? meta(diff.from) : null,
    summary: summarize(snapshot),
    diff: changes,
    intents: snapshot.intents,
    kafkaAcl: snapshot.kafkaAcl,
  };
}

/** `2026-11-21T20:30:05.123Z` → `20261121T203005Z`. */
export function compactTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** `callmap-report-20261121T203005Z-12.md`: sorts by time, unique per snapshot. */
export function reportFileName(snapshot: Pick<SnapshotMeta, 'id' | 'takenAt'>, format: ReportFormat): string {
  return `callmap-report-${compactTime(snapshot.takenAt)}-${snapshot.id}.${format}`;
}

/** True when `--fail-on-new-edges` should fail: there was a previous snapshot and edges appeared. */
export function hasNewEdges(r: Pick<Report, 'previous' | 'diff'>): boolean {
  return r.previous !== null && r.diff.totals.newEdges > 0;
}
