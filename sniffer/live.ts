/**
 * Live mode: libpcap capture on one or more devices, periodic /proc socket scan, periodic
 * reporting through the mapper client's ObservationReporter, and /metrics + /healthz.
 */
import type { ObservationReporter } from '../mapper/client/index.ts';
import {
  type CaptureHandle,
  type CaptureOpener,
  type CaptureStats,
  LibpcapCounters,
  loadPcap,
  openCapture,
} from './capture.ts';
import { CAPTURE_FILTER } from './filter.ts';
import { every, type Periodic } from './loop.ts';
import { createMetricsRegistry, type MetricsServer, startMetricsServer } from './metrics.ts';
import { type ScanResult, scanSockets } from './proc/scan.ts';
import { PacketProcessor, type PacketStats } from './processor.ts';

export type LiveReporter = Pick<ObservationReporter, 'add' | 'flush' | 'shutdown' | 'stats'>;

export interface LiveConfig {
  /** Devices to capture on (`any` for all interfaces). */
  interfaces: string[];
  scanIntervalMs: number;
  reportIntervalMs: number;
  socketScan: boolean;
  procRoot: string;
  metricsHost: string;
  /** 0 picks a free port. */
  metricsPort: number;
  filter?: string;
  dedupeWindowMs?: number;
  /** libpcap kernel ring per device (default CAPTURE_BUFFER_BYTES). */
  captureBufferBytes?: number;
}

/** libpcap's counters for one capture device, as running totals (wraps of the 32-bit values counted through). */
export interface DeviceCaptureStats extends CaptureStats {
  device: string;
}

export interface LiveDeps {
  reporter: LiveReporter;
  openCapture?: CaptureOpener;
  scan?: (procRoot: string) => Promise<ScanResult>;
  now?: () => number;
  log: (line: string) => void;
}

export interface LiveSniffer {
  metricsUrl: string;
  stats(): PacketStats;
  /** libpcap's counters per device (samples them now). */
  libpcapStats(): DeviceCaptureStats[];
  /** Drains aggregated observations into the reporter and flushes it (used by tests and shutdown). */
  reportNow(): Promise<void>;
  scanNow(): Promise<void>;
  /** Stops capture and loops, flushes what is left; resolves with the final reporter stats. */
  shutdown(deadlineMs?: number): Promise<ReturnType<LiveReporter['stats']>>;
}

export async function startLiveSniffer(cfg: LiveConfig, deps: LiveDeps): Promise<LiveSniffer> {
  const now = deps.now ?? Date.now;
  const reporter = deps.reporter;
  const proc = new PacketProcessor({
    dedupeWindowMs: cfg.dedupeWindowMs ?? 1000,
    onFull: () => drain(),
  });
  const drain = (): void => {
    for (const o of proc.drain()) reporter.add(o);
  };
  let truncated = 0;
  let handlerErrors = 0;
  let captureErrors = 0;
  const scanStats = { runs: 0, connections: 0, namespaces: 0, errors: 0 };
  let closing = false;
  const handles: CaptureHandle[] = [];
  const counters: LibpcapCounters[] = [];
  const opener = deps.openCapture ?? openCapture;
  const onPacket = (buf: Buffer, len: number, lt: number, cut: boolean, off?: number): void => {
    if (cut) truncated++;
    try {
      proc.handle(buf, off ?? 0, len, lt, now());
    } catch (e) {
      // never let one packet take the process down from inside libpcap's callback
      proc.stats.malformed++;
      if (handlerErrors++ === 0) deps.log(`callmap sniffer: packet handler failed: ${String(e)}`);
    }
  };
  const onError = (message: string): void => {
    captureErrors++;
    deps.log(`callmap sniffer: ${message}`);
  };
  try {
    for (const dev of cfg.interfaces) {
      const opts =
        cfg.captureBufferBytes === undefined ? { onError } : { onError, bufferBytes: cfg.captureBufferBytes };
      handles.push(opener(dev, cfg.filter ?? CAPTURE_FILTER, onPacket, opts));
      counters.push(new LibpcapCounters());
    }
  } catch (e) {
    for (const h of handles) h.close();
    throw e;
  }
  /** Samples pcap_stats of every handle into running totals (often enough that 32-bit wraps are seen). */
  const libpcapStats = (): DeviceCaptureStats[] => {
    const out: DeviceCaptureStats[] = [];
    handles.forEach((h, i) => {
      const c = counters[i];
      if (!h.stats || !c) return;
      try {
        c.update(h.stats());
      } catch (e) {
        if (captureErrors++ === 0) deps.log(`callmap sniffer: pcap_stats on ${h.device} failed: ${String(e)}`);
      }
      out.push({ device: h.device, ...c.totals });
    });
    return out;
  };

  const registry = createMetricsRegistry({
    packets: () => proc.stats,
    truncated: () => truncated,
    reporter: () => reporter.stats(),
    scan: () => scanStats,
    libpcap: libpcapStats,
    captureErrors: () => captureErrors,
    healthy: () => !closing && handles.length > 0,
  });
  let metrics: MetricsServer;
  try {
    metrics = await startMetricsServer(
      registry,
      () => !closing && handles.length > 0,
      cfg.metricsHost,
      cfg.metricsPort,
    );
  } catch (e) {
    for (const h of handles) h.close();
    throw e;
  }

  const scan = deps.scan ?? scanSockets;
  const doScan = async (): Promise<void> => {
    const r = await scan(cfg.procRoot);
    const t = now();
    for (const c of r.connections) proc.addSocket(c.clientIp, c.serverIp, c.serverPort, t);
    scanStats.runs++;
    scanStats.connections = r.connections.length;
    scanStats.namespaces = r.namespaces;
    scanStats.errors += r.errors;
  };
  // Aborted at shutdown so a flush stuck in retries does not hold SIGTERM up; the batch stays queued.
  const stopping = new AbortController();
  const doReport = async (): Promise<void> => {
    libpcapStats();
    drain();
    await reporter.flush(stopping.signal);
  };
  const loops: Periodic[] = [every(cfg.reportIntervalMs, doReport, deps.log)];
  let scanLoop: Periodic | undefined;
  if (cfg.socketScan) {
    scanLoop = every(cfg.scanIntervalMs, doScan, deps.log);
    loops.push(scanLoop);
    void scanLoop.runNow(); // first scan right away: long-lived connections show up at once
  }
  const via = deps.openCapture ? 'a custom capture opener' : `${loadPcap().libVersion()} (callmap's binding)`;
  deps.log(
    `callmap sniffer: capturing on ${handles.map((h) => `${h.device} (linktype ${h.linkType})`).join(', ')} via ${via}; metrics on ${metrics.url}/metrics`,
  );

  return {
    metricsUrl: metrics.url,
    stats: () => proc.stats,
    libpcapStats,
    reportNow: async () => {
      drain();
      await reporter.flush();
    },
    scanNow: () => (scanLoop ? scanLoop.runNow() : doScan()),
    async shutdown(deadlineMs = 10_000) {
      closing = true;
      for (const h of handles) h.close();
      libpcapStats(); // the last values (kept by the binding at close)
      stopping.abort();
      await Promise.all(loops.map((l) => l.shutdown()));
      drain();
      const final = await reporter.shutdown(deadlineMs);
      await metrics.close();
      return final;
    },
  };
}
