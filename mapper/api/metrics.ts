/**
 * The mapper's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * several mappers in one process — tests — do not collide).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type ObservationKind, REPORTER_COMPONENTS } from '../contract/index.ts';
import type { IngestMetrics } from '../ingest/index.ts';

export const REJECT_REASONS = [
  'invalid',
  'bad-json',
  'too-large',
  'unsupported-media-type',
  'not-ready',
  'shutting-down',
  'internal',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface MapperMetrics {
  registry: Registry;
  ingest: IngestMetrics;
  received(source: string): void;
  rejected(source: string, reason: RejectReason): void;
  duplicate(source: string): void;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  sseClients: Gauge;
}

/** Bounded label value for a reporter component (anything else becomes `unknown`). */
export function sourceLabel(v: unknown): string {
  return typeof v === 'string' && (REPORTER_COMPONENTS as readonly string[]).includes(v) ? v : 'unknown';
}

export interface MetricsOptions {
  /** Called at scrape time for the intents gauge. */
  intentsCount: () => number;
  edgesCount: () => number;
  defaultMetrics?: boolean;
}

export function createMapperMetrics(opts: MetricsOptions): MapperMetrics {
  const registry = new Registry();
  // prom-client's default metrics include gauges named *_total, which promtool rejects; these few
  // process gauges are what an operator needs.
  if (opts.defaultMetrics !== false) {
    new Gauge({
      name: 'callmap_mapper_resident_memory_bytes',
      help: 'Resident set size of the mapper process.',
      registers: [registry],
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'callmap_mapper_heap_used_bytes',
      help: 'V8 heap in use by the mapper process.',
      registers: [registry],
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    });
    new Gauge({
      name: 'callmap_mapper_start_time_seconds',
      help: 'Start time of the mapper process, seconds since the Unix epoch.',
      registers: [registry],
    }).set(Math.round(Date.now() / 1000 - process.uptime()));
  }
  const received = new Counter({
    name: 'callmap_reports_received_total',
    help: 'Report batches received on POST /api/v1/reports, by reporter component.',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'callmap_reports_rejected_total',
    help: 'Report batches rejected, by reporter component and reason.',
    labelNames: ['source', 'reason'] as const,
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'callmap_reports_duplicate_total',
    help: 'Report batches whose batchId had already been accepted (nothing counted again).',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const observations = new Counter({
    name: 'callmap_observations_total',
    help: 'Observations in accepted batches, by kind (weighted by their count).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const unresolved = new Counter({
    name: 'callmap_unresolved_total',
    help: 'Observations that could not be attributed to workloads, by kind and reason.',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'callmap_observations_dropped_total',
    help: 'Observations resolved but not stored as intents (e.g. self-calls), by kind and reason.',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'callmap_intents',
    help: 'Intents (client to server or external destination) in the map.',
    registers: [registry],
    collect() {
      this.set(opts.intentsCount());
    },
  });
  new Gauge({
    name: 'callmap_map_edges',
    help: 'Stored edges (client, server, service it went through) in the map.',
    registers: [registry],
    collect() {
      this.set(opts.edgesCount());
    },
  });
  const httpDuration = new Histogram({
    name: 'callmap_http_request_duration_seconds',
    help: 'Mapper HTTP request duration, by method, route and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const sseClients = new Gauge({
    name: 'callmap_sse_clients',
    help: 'Open /api/v1/events connections.',
    registers: [registry],
  });
  return {
    registry,
    received: (s) => received.inc({ source: sourceLabel(s) }),
    rejected: (s, reason) => rejected.inc({ source: sourceLabel(s), reason }),
    duplicate: (s) => duplicates.inc({ source: sourceLabel(s) }),
    ingest: {
      observations: (kind: ObservationKind, n) => observations.inc({ kind }, n),
      unresolved: (kind, reason, n) => unresolved.inc({ kind, reason }, n),
      dropped: (kind, reason, n) => dropped.inc({ kind, reason }, n),
    },
    httpDuration,
    sseClients,
  };
}

/**
 * What the snapshot store reports (structurally `SnapshotStats` of mapper/snapshots/store.ts; the
 * API does not import the snapshots module). Read at scrape time, so nothing is lost to ordering:
 * the snapshot store exists before the mapper app and its registry.
 */
export interface SnapshotMetricsSource {
  created: Readonly<Record<'api' | 'schedule', number>>;
  failed: Readonly<Record<'api' | 'schedule', number>>;
  pruned: number;
  stored: number;
  /** ms since the epoch; undefined: no snapshot yet. */
  lastSuccessAt: number | undefined;
}

const SNAPSHOT_TRIGGER_LABELS = ['api', 'schedule'] as const;

/** Registers the snapshot metrics on the mapper's registry, reading `read()` at each scrape. */
export function registerSnapshotMetrics(registry: Registry, read: () => SnapshotMetricsSource): void {
  const byTrigger = (name: string, help: string, pick: (s: SnapshotMetricsSource) => Record<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: ['trigger'] as const,
      registers: [registry],
      collect() {
        const v = pick(read());
        this.reset();
        for (const trigger of SNAPSHOT_TRIGGER_LABELS) this.inc({ trigger }, v[trigger] ?? 0);
      },
    });
  byTrigger(
    'callmap_snapshots_created_total',
    'Snapshots committed to the snapshot database by this process, by trigger (schedule or api).',
    (s) => s.created,
  );
  byTrigger(
    'callmap_snapshot_failures_total',
    'Snapshot attempts that failed (nothing committed), by trigger (schedule or api).',
    (s) => s.failed,
  );
  new Counter({
    name: 'callmap_snapshots_pruned_total',
    help: 'Snapshots deleted by retention (keep count or maximum age) in this process.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().pruned);
    },
  });
  new Gauge({
    name: 'callmap_snapshots_stored',
    help: 'Snapshots in the snapshot database.',
    registers: [registry],
    collect() {
      this.set(read().stored);
    },
  });
  new Gauge({
    name: 'callmap_snapshot_last_success_time_seconds',
    help: 'Time of the newest snapshot in the snapshot database, seconds since the Unix epoch (0: none yet).',
    registers: [registry],
    collect() {
      const at = read().lastSuccessAt;
      this.set(at === undefined ? 0 : at / 1000);
    },
  });
}
