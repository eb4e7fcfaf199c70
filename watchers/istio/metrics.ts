/**
 * The watcher's own Prometheus metrics (prom-client, private registry), served on --metrics-port
 * by `serveMetrics` (watchers/common/metrics-server.ts).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ReporterStats } from '../../mapper/client/index.ts';
import type { TickReport } from './watcher.ts';

export interface WatcherMetrics {
  registry: Registry;
  record(report: TickReport, durationMs: number): void;
  tickFailed(): void;
}

export function createWatcherMetrics(reporterStats?: () => ReporterStats): WatcherMetrics {
  const registry = new Registry();
  const c = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const ticks = c('callmap_istio_ticks_total', 'Watcher ticks run');
  const tickFailures = c(
    'callmap_istio_tick_failures_total',
    'Ticks that failed as a whole (e.g. Kubernetes API unreachable)',
  );
  const scraped = c('callmap_istio_pods_scraped_total', 'Stats pages read successfully');
  const failures = c('callmap_istio_scrape_failures_total', 'Stats pages that could not be read, by reason', [
    'reason',
  ]);
  const podsSkipped = c('callmap_istio_pods_skipped_total', 'Pods found but not scraped, by reason', ['reason']);
  const parsed = c(
    'callmap_istio_series_parsed_total',
    'istio_requests_total / istio_tcp_connections_opened_total series read',
  );
  const skipped = c('callmap_istio_series_skipped_total', 'Series skipped, by reason', ['reason']);
  const edges = c(
    'callmap_istio_edges_reported_total',
    'Observations (edges with a non-zero delta) handed to the reporter',
  );
  const dedup = c(
    'callmap_istio_edges_deduplicated_total',
    'Source-side deltas dropped in favour of the destination view',
  );
  const resets = c('callmap_istio_counter_resets_total', 'Series whose counter went down (proxy restart)');
  const duration = new Gauge({
    name: 'callmap_istio_last_tick_duration_seconds',
    help: 'Duration of the last tick',
    registers: [registry],
  });
  if (reporterStats) {
    new Gauge({
      name: 'callmap_istio_reporter_observations',
      help: 'Reporter state: queued, sent and dropped observations',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const s = reporterStats();
        this.set({ state: 'queued' }, s.queuedObservations + s.pendingObservations);
        this.set({ state: 'sent' }, s.sentObservations);
        this.set({ state: 'dropped' }, s.droppedObservations);
      },
    });
  }
  return {
    registry,
    record(r, ms) {
      ticks.inc();
      scraped.inc(r.scraped);
      for (const [reason, n] of Object.entries(r.failures)) if (n > 0) failures.inc({ reason }, n);
      for (const [reason, n] of Object.entries(r.discoverySkipped)) if (n > 0) podsSkipped.inc({ reason }, n);
      for (const [reason, n] of Object.entries(r.seriesSkipped)) if (n > 0) skipped.inc({ reason }, n);
      parsed.inc(r.seriesParsed);
      edges.inc(r.edgesReported);
      dedup.inc(r.deduplicated);
      resets.inc(r.resets);
      duration.set(ms / 1000);
    },
    tickFailed() {
      tickFailures.inc();
    },
  };
}
