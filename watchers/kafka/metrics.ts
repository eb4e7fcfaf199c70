/** Prometheus metrics of the Kafka watcher (own registry, served by watchers/common/metrics-server.ts). */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ReporterStats } from '../../mapper/client/index.ts';
import { SKIP_REASONS } from './parse.ts';
import type { KafkaStats } from './stats.ts';

export function kafkaRegistry(stats: KafkaStats, reporter?: () => ReporterStats): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  counter('callmap_kafka_lines_read_total', 'Log lines read (every logger)', () => stats.linesRead);
  counter('callmap_kafka_authorizer_lines_parsed_total', 'Authorizer lines parsed into a decision', () => stats.parsed);
  new Counter({
    name: 'callmap_kafka_lines_skipped_total',
    help: 'Authorizer lines skipped, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of SKIP_REASONS) this.inc({ reason: r }, stats.skipped[r]);
    },
  });
  counter(
    'callmap_kafka_reconnects_total',
    'Log streams re-opened (disconnects, pod restarts)',
    () => stats.reconnects,
  );
  counter(
    'callmap_kafka_duplicate_lines_total',
    'Lines dropped because they were read before a reconnect',
    () => stats.duplicateLines,
  );
  counter(
    'callmap_kafka_observations_reported_total',
    'Aggregated observations handed to the reporter',
    () => stats.observationsReported,
  );
  if (reporter !== undefined) {
    new Gauge({
      name: 'callmap_kafka_reporter_queued_observations',
      help: 'Observations waiting for delivery to the mapper',
      registers: [registry],
      collect() {
        const s = reporter();
        this.set(s.queuedObservations + s.pendingObservations);
      },
    });
    counter(
      'callmap_kafka_reporter_dropped_observations_total',
      'Observations dropped by the reporter (queue bound or rejected batch)',
      () => reporter().droppedObservations,
    );
  }
  return registry;
}
