/**
 * `callmap sniffer`: live capture on this node, or `--pcap FILE` replay. The only sniffer module
 * that reads the environment (through ctx.env).
 */
import { hostname } from 'node:os';
import { duration, list, parseCli, port } from '../mapper/cli/args.ts';
import { type CliContext, type Command, EXIT, UsageError } from '../mapper/cli/command.ts';
import { httpTransport, ObservationReporter, resolveMapperUrl } from '../mapper/client/index.ts';
import type { ReporterIdentity } from '../mapper/contract/index.ts';

const USAGE = `Usage: callmap sniffer [options]

Captures DNS answers and TCP connection openings on this node (libpcap, kernel BPF filter),
scans /proc for connections opened before it started, and reports them to the mapper.
With --pcap it replays a capture file instead and exits with a one-line summary.

Options:
  --mapper-url URL        Mapper base URL (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  --interface LIST        Devices to capture on: any, or eth0,cni0,... (default any)
  --pcap FILE             Replay a pcap/pcapng file, report everything, exit 0
  --scan-interval DUR     /proc socket scan interval (default 10s)
  --report-interval DUR   Report interval (default 10s)
  --no-socket-scan        Do not scan /proc for existing connections
  --proc-root DIR         Where the host's /proc is mounted (default /proc)
  --metrics-port PORT     Port for /metrics and /healthz (default 9091, 0 = any free port)
  --metrics-host HOST     Address to bind the metrics server (default 0.0.0.0)
  --node-name NAME        Reporter instance name (env NODE_NAME, default the host name)
  -h, --help              Show this help

Live capture needs CAP_NET_RAW (root) and libpcap. SIGTERM stops capture and flushes the queue.

Exit codes: 0 done (replay delivered, or stopped by SIGTERM/SIGINT), 1 capture or file error
(no libpcap, unknown interface, unreadable pcap), 2 observations not delivered to the mapper,
64 bad flag.
`;

const OPTIONS = {
  'mapper-url': { type: 'string' },
  interface: { type: 'string', multiple: true },
  pcap: { type: 'string' },
  'scan-interval': { type: 'string' },
  'report-interval': { type: 'string' },
  'no-socket-scan': { type: 'boolean' },
  'proc-root': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'node-name': { type: 'string' },
} as const;

export interface SnifferConfig {
  mapperUrl: string;
  interfaces: string[];
  pcap: string | undefined;
  scanIntervalMs: number;
  reportIntervalMs: number;
  socketScan: boolean;
  procRoot: string;
  metricsPort: number;
  metricsHost: string;
  nodeName: string;
}

/** Flags > env > defaults, validated (UsageError on bad values). */
export function parseSnifferArgs(argv: string[], env: Readonly<Record<string, string | undefined>>): SnifferConfig {
  const { values: v } = parseCli(argv, OPTIONS);
  const interfaces = list(v.interface);
  for (const i of interfaces) {
    if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(i))
      throw new UsageError(`--interface: ${JSON.stringify(i)} is not a device name`);
  }
  if (v.pcap !== undefined && interfaces.length > 0) throw new UsageError('--pcap and --interface cannot be combined');
  if (v['metrics-host'] !== undefined && v['metrics-host'].trim() === '')
    throw new UsageError('--metrics-host must not be empty');
  const nodeName = v['node-name'] ?? env['NODE_NAME'] ?? hostname();
  if (nodeName.trim() === '') throw new UsageError('--node-name must not be empty');
  return {
    mapperUrl: resolveMapperUrl(v['mapper-url'], env),
    interfaces: interfaces.length > 0 ? interfaces : ['any'],
    pcap: v.pcap,
    scanIntervalMs: duration('scan-interval', v['scan-interval'], 10_000),
    reportIntervalMs: duration('report-interval', v['report-interval'], 10_000),
    socketScan: v['no-socket-scan'] !== true,
    procRoot: v['proc-root'] ?? '/proc',
    metricsPort: port('metrics-port', v['metrics-port'], 9091),
    metricsHost: v['metrics-host'] ?? '0.0.0.0',
    nodeName,
  };
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const cfg = parseSnifferArgs(argv, ctx.env);
  const log = (line: string): void => {
    ctx.stderr.write(`${line}\n`);
  };
  const identity: ReporterIdentity = { component: 'sniffer', instance: cfg.nodeName, version: '0.1.0' };
  const transport = httpTransport(cfg.mapperUrl);
  const reporter = new ObservationReporter({
    transport,
    reporter: identity,
    flushIntervalMs: cfg.reportIntervalMs,
    retry: {
      onRetry: ({ attempt, delayMs, reason }) =>
        log(
          `callmap sniffer: report attempt ${attempt} to ${cfg.mapperUrl} failed (${reason}); retrying in ${delayMs} ms`,
        ),
    },
    log,
  });
  try {
    if (cfg.pcap !== undefined) {
      const { formatReplaySummary, replayPcap } = await import('./replay.ts');
      const summary = await replayPcap(cfg.pcap, reporter);
      const final = await reporter.shutdown(30_000);
      ctx.stdout.write(`${formatReplaySummary(cfg.pcap, summary)}\n`);
      const undelivered = final.queuedObservations + final.pendingObservations + final.droppedObservations;
      if (undelivered > 0) {
        log(`callmap sniffer: ${undelivered} observations were not delivered to ${cfg.mapperUrl}`);
        return EXIT.mapperUnreachable;
      }
      return EXIT.ok;
    }
    const { startLiveSniffer } = await import('./live.ts');
    const sniffer = await startLiveSniffer(
      {
        interfaces: cfg.interfaces,
        scanIntervalMs: cfg.scanIntervalMs,
        reportIntervalMs: cfg.reportIntervalMs,
        socketScan: cfg.socketScan,
        procRoot: cfg.procRoot,
        metricsHost: cfg.metricsHost,
        metricsPort: cfg.metricsPort,
      },
      { reporter, log },
    );
    ctx.stdout.write(`callmap sniffer: running as ${cfg.nodeName}, reporting to ${cfg.mapperUrl}\n`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const final = await sniffer.shutdown(10_000);
    const s = sniffer.stats();
    ctx.stdout.write(
      `callmap sniffer: stopped after ${s.seen} packets, ${s.dnsAnswers} DNS answers, ${s.tcpConnections} TCP connections, ` +
        `${s.malformed} malformed; sent ${final.sentObservations} observations, dropped ${final.droppedObservations}\n`,
    );
    return EXIT.ok;
  } finally {
    await transport.close();
  }
}

export const command: Command = {
  name: 'sniffer',
  summary: 'Capture DNS/TCP on this node (or replay a .pcap) and report to the mapper',
  usage: USAGE,
  run,
};
