/** The sniffer's own /metrics (Prometheus text, own registry) and /healthz endpoint. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { CallmapError } from '../mapper/contract/index.ts';
import type { PacketStats } from './processor.ts';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  packets: () => PacketStats;
  /** Packets libpcap handed over cut short (larger than the capture buffer). */
  truncated: () => number;
  reporter: () => {
    sentBatches: number;
    sentObservations: number;
    failedSends: number;
    rejectedBatches: number;
    droppedObservations: number;
    queuedObservations: number;
    pendingObservations: number;
  };
  scan: () => { runs: number; connections: number; namespaces: number; errors: number };
  /** libpcap's pcap_stats per device as running totals (absent: not exported). */
  libpcap?: () => Array<{ device: string; received: number; dropped: number; ifDropped: number }>;
  /** Captures that broke while running (interface removed, ...). */
  captureErrors?: () => number;
  /** True while the captures are open (and the sniffer is not shutting down). */
  healthy: () => boolean;
}

export function createMetricsRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'callmap_sniffer_' });
  // prom-client names three gauges *_total, which `promtool check metrics` rejects; the same
  // numbers stay available per type in callmap_sniffer_nodejs_active_{handles,requests,resources}.
  for (const name of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`callmap_sniffer_nodejs_active_${name}_total`);
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const v = read();
        if (v > 0) this.inc(v);
      },
    });
  };
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  counter(
    'callmap_sniffer_packets_seen_total',
    'Packets received from libpcap or the pcap file',
    () => src.packets().seen,
  );
  counter(
    'callmap_sniffer_packets_decoded_total',
    'Packets that yielded a DNS answer or a TCP connection',
    () => src.packets().decoded,
  );
  counter(
    'callmap_sniffer_packets_malformed_total',
    'Packets skipped as undecodable (truncated, bad DNS pointers, non-DNS on port 53, ...)',
    () => src.packets().malformed,
  );
  counter('callmap_sniffer_packets_ignored_total', 'Well-formed packets of no interest', () => src.packets().ignored);
  counter(
    'callmap_sniffer_packets_duplicate_total',
    'Packets suppressed as copies (same packet on two interfaces, SYN and SYN-ACK)',
    () => src.packets().duplicates,
  );
  counter('callmap_sniffer_packets_truncated_total', 'Packets cut short by the capture buffer', () => src.truncated());
  counter('callmap_sniffer_dns_answers_total', 'DNS answers decoded', () => src.packets().dnsAnswers);
  counter(
    'callmap_sniffer_tcp_connections_total',
    'TCP connection openings captured',
    () => src.packets().tcpConnections,
  );
  counter('callmap_sniffer_reports_sent_total', 'Batches accepted by the mapper', () => src.reporter().sentBatches);
  counter(
    'callmap_sniffer_report_observations_sent_total',
    'Observations accepted by the mapper',
    () => src.reporter().sentObservations,
  );
  counter(
    'callmap_sniffer_reports_failed_total',
    'Report attempts that failed (kept for retry)',
    () => src.reporter().failedSends,
  );
  counter(
    'callmap_sniffer_reports_rejected_total',
    'Batches the mapper refused (4xx)',
    () => src.reporter().rejectedBatches,
  );
  counter(
    'callmap_sniffer_report_observations_dropped_total',
    'Observations dropped (queue bound hit, or rejected by the mapper)',
    () => src.reporter().droppedObservations,
  );
  gauge(
    'callmap_sniffer_report_queue_observations',
    'Observations waiting to be sent',
    () => src.reporter().queuedObservations + src.reporter().pendingObservations,
  );
  counter('callmap_sniffer_socket_scans_total', 'Socket scans of /proc completed', () => src.scan().runs);
  gauge(
    'callmap_sniffer_socket_scan_connections',
    'Client connections found by the last scan',
    () => src.scan().connections,
  );
  gauge(
    'callmap_sniffer_socket_scan_namespaces',
    'Network namespaces seen by the last scan',
    () => src.scan().namespaces,
  );
  counter(
    'callmap_sniffer_socket_scan_errors_total',
    'Unreadable /proc files and unparseable lines',
    () => src.scan().errors,
  );
  const libpcap = src.libpcap;
  if (libpcap) {
    // each counter samples pcap_stats itself (a cheap getsockopt), so each is current on its own
    const perDevice = (name: string, help: string, key: 'received' | 'dropped' | 'ifDropped'): void => {
      new Counter({
        name,
        help,
        labelNames: ['device'],
        registers: [registry],
        collect() {
          this.reset();
          for (const d of libpcap()) this.inc({ device: d.device }, d[key]);
        },
      });
    };
    perDevice(
      'callmap_sniffer_libpcap_received_total',
      'Packets libpcap received on the device after the kernel filter (pcap_stats ps_recv; on Linux including drops)',
      'received',
    );
    perDevice(
      'callmap_sniffer_libpcap_dropped_total',
      'Packets dropped because the capture ring was full: the sniffer did not read fast enough (pcap_stats ps_drop)',
      'dropped',
    );
    perDevice(
      'callmap_sniffer_libpcap_if_dropped_total',
      'Packets dropped by the network interface or its driver (pcap_stats ps_ifdrop)',
      'ifDropped',
    );
  }
  const captureErrors = src.captureErrors;
  if (captureErrors) {
    counter(
      'callmap_sniffer_capture_errors_total',
      'Captures that broke while running (interface removed, ...) and pcap_stats failures',
      captureErrors,
    );
  }
  return registry;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  registry: Registry,
  healthy: () => boolean,
  host: string,
  port: number,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(e)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not capturing\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new CallmapError(
          'SNIFFER_METRICS_LISTEN',
          `cannot serve metrics on ${host}:${port}: ${e.message}; pick another --metrics-port`,
          {
            cause: e,
          },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
