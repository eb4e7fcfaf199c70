/**
 * `callmap watch kafka`: follows Kafka authorizer logs (pod logs through the Kubernetes API, or a
 * file) and reports topic-level access to the mapper.
 */
import { hostname } from 'node:os';
import { duration, list, nameDotNamespace, parseCli, port as portFlag } from '../../mapper/cli/args.ts';
import { type CliContext, type Command, EXIT, UsageError } from '../../mapper/cli/command.ts';
import { httpTransport, ObservationReporter, resolveMapperUrl, unreachable } from '../../mapper/client/index.ts';
import { CallmapError, type WorkloadRef } from '../../mapper/contract/index.ts';
import { firstKubeconfigFile, loadKubeConfig } from '../common/kubeconfig.ts';
import { type MetricsServer, serveMetrics } from '../common/metrics-server.ts';
import { KUBE_ERROR_CODES, kubeAccess } from './kube.ts';
import { kafkaRegistry } from './metrics.ts';
import { SKIP_REASONS } from './parse.ts';
import { KafkaStats } from './stats.ts';
import { type KafkaSource, KafkaWatcher } from './watcher.ts';

const usage = `Usage: callmap watch kafka [options] (--server POD.NS … | --selector SEL [-n NS] | --log-file PATH --server-name POD.NS)

Reads Kafka authorizer decisions (AclAuthorizer, KRaft StandardAuthorizer, SimpleAclAuthorizer; any
log layout) and reports which client IP used which topic how (allowed or denied) to the mapper.

Sources (pick one):
  --server POD.NS           Follow this broker pod's log through the Kubernetes API (repeatable,
                            or a comma list). Resumes after disconnects without re-reading lines.
  --selector SEL            Follow every pod matching this label selector (e.g. app=kafka)
  -n, --namespace NS        Namespace for --selector (default: all namespaces)
  --log-file PATH           Tail a log file (e.g. kafka-authorizer.log), following rotation and truncation
  --server-name POD.NS      The broker pod that writes --log-file
  --scan-threads N          --log-file with the native scanner: 2 = read a backlog of 32 MiB or more
                            (start-up, --once) on two threads (default 1; it costs ~10% more CPU
                            and is faster only with an idle core, see docs/kafka-watcher.md)

Options:
  --container NAME          Container holding Kafka (default: the only one, else "kafka", else the first)
  --kubeconfig PATH         Kubeconfig (default: the first existing file of KUBECONFIG, ~/.kube/config,
                            or in-cluster)
  --mapper-url URL          Mapper to report to (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  --report-interval DUR     How often observations are sent (default 10s)
  --pod-check-interval DUR  How often a followed pod is re-checked for restarts (default 10s)
  --metrics-port PORT       Serve Prometheus metrics on this port (/metrics, /healthz; 0 = any free port)
  --metrics-host HOST       Address for --metrics-port (default: all interfaces)
  --once                    Read what is there now (pod logs without follow; a file: all of it),
                            report, and exit
  -h, --help                Show this help

Exit codes: 0 ok (--once) or stopped by SIGINT/SIGTERM, 1 the kubeconfig, the Kubernetes API or the
file cannot be read (or the metrics port is taken), 2 mapper unreachable (--once), 64 bad flag.`;

const OPTIONS = {
  'mapper-url': { type: 'string' },
  server: { type: 'string', multiple: true },
  selector: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'log-file': { type: 'string' },
  'server-name': { type: 'string' },
  'scan-threads': { type: 'string' },
  container: { type: 'string' },
  kubeconfig: { type: 'string' },
  'report-interval': { type: 'string' },
  'pod-check-interval': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  once: { type: 'boolean' },
} as const;

export interface KafkaCliConfig {
  mapperUrl: string;
  source: KafkaSource;
  container?: string;
  kubeconfig?: string;
  reportIntervalMs: number;
  podCheckMs: number;
  metricsPort?: number;
  metricsHost?: string;
  once: boolean;
  /** --log-file: threads scanning a large backlog (1 or 2). */
  scanThreads?: 2;
}

/** Parses and validates flags (option > env > default). Throws UsageError. */
export function parseKafkaArgs(argv: string[], env: Readonly<Record<string, string | undefined>>): KafkaCliConfig {
  const { values: v } = parseCli(argv, OPTIONS);
  const servers = list(v.server).map((s) => nameDotNamespace('server', s));
  const chosen = [servers.length > 0, v.selector !== undefined, v['log-file'] !== undefined].filter(Boolean).length;
  if (chosen !== 1) {
    throw new UsageError(
      'choose exactly one source: --server POD.NS (repeatable), --selector SEL [-n NS], or --log-file PATH --server-name POD.NS',
    );
  }
  if (v.namespace !== undefined && v.selector === undefined)
    throw new UsageError('--namespace only applies to --selector; --server takes POD.NAMESPACE');
  if (v['server-name'] !== undefined && v['log-file'] === undefined)
    throw new UsageError('--server-name only applies to --log-file');
  if (v['scan-threads'] !== undefined && v['log-file'] === undefined)
    throw new UsageError('--scan-threads only applies to --log-file');
  if (v['scan-threads'] !== undefined && v['scan-threads'] !== '1' && v['scan-threads'] !== '2')
    throw new UsageError(`--scan-threads must be 1 or 2, got ${JSON.stringify(v['scan-threads'])}`);
  let source: KafkaSource;
  if (servers.length > 0) {
    const seen = new Set<string>();
    source = {
      kind: 'servers',
      servers: servers.filter((s: WorkloadRef) => {
        const k = `${s.namespace}/${s.name}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }),
    };
  } else if (v.selector !== undefined) {
    if (v.selector.trim() === '') throw new UsageError('--selector must not be empty; e.g. --selector app=kafka');
    source = {
      kind: 'selector',
      selector: v.selector,
      ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
    };
  } else {
    const path = v['log-file'] as string;
    if (v['server-name'] === undefined)
      throw new UsageError('--log-file needs --server-name POD.NS (the broker pod that writes the file)');
    source = { kind: 'file', path, server: nameDotNamespace('server-name', v['server-name']) };
  }
  let mapperUrl: string;
  try {
    mapperUrl = resolveMapperUrl(v['mapper-url'], env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const kubeconfig = v.kubeconfig ?? firstKubeconfigFile(env['KUBECONFIG']);
  const mp = v['metrics-port'] === undefined ? undefined : portFlag('metrics-port', v['metrics-port'], 0);
  return {
    mapperUrl,
    source,
    ...(v.container === undefined ? {} : { container: v.container }),
    ...(kubeconfig === undefined || kubeconfig === '' || source.kind === 'file' ? {} : { kubeconfig }),
    reportIntervalMs: duration('report-interval', v['report-interval'], 10_000),
    podCheckMs: duration('pod-check-interval', v['pod-check-interval'], 10_000),
    ...(mp === undefined ? {} : { metricsPort: mp }),
    ...(v['metrics-host'] === undefined ? {} : { metricsHost: v['metrics-host'] }),
    once: v.once === true,
    ...(v['scan-threads'] === '2' ? { scanThreads: 2 as const } : {}),
  };
}

export function summary(stats: KafkaStats): string {
  const skipped = SKIP_REASONS.filter((r) => stats.skipped[r] > 0)
    .map((r) => `${r} ${stats.skipped[r]}`)
    .join(', ');
  return `kafka watcher: ${stats.linesRead} lines read, ${stats.parsed} authorizer decisions, ${stats.skippedTotal} skipped${skipped ? ` (${skipped})` : ''}, ${stats.observationsReported} observations reported`;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const cfg = parseKafkaArgs(argv, ctx.env);
  const log = (line: string) => {
    ctx.stderr.write(`${line}\n`);
  };
  const kube =
    cfg.source.kind === 'file'
      ? undefined
      : kubeAccess(
          loadKubeConfig({
            path: cfg.kubeconfig,
            code: KUBE_ERROR_CODES.kubeconfig,
            hint: 'pass --kubeconfig PATH or set KUBECONFIG',
          }),
        );
  const transport = httpTransport(cfg.mapperUrl, { timeoutMs: 15_000 });
  const reporter = new ObservationReporter({
    transport,
    reporter: { component: 'kafka-watcher', instance: ctx.env['HOSTNAME'] ?? hostname(), version: '0.1.0' },
    flushIntervalMs: cfg.reportIntervalMs,
    retry: cfg.once ? { maxAttempts: 3, maxElapsedMs: 5_000 } : {},
    log,
  });
  const stats = new KafkaStats();
  const watcher = new KafkaWatcher(
    {
      source: cfg.source,
      ...(cfg.container === undefined ? {} : { container: cfg.container }),
      once: cfg.once,
      reportIntervalMs: cfg.reportIntervalMs,
      podCheckMs: cfg.podCheckMs,
      ...(cfg.scanThreads === undefined ? {} : { fileScanThreads: cfg.scanThreads }),
    },
    { sink: reporter, stats, log, now: Date.now, ...(kube === undefined ? {} : { kube }) },
  );
  let metrics: MetricsServer | undefined;
  try {
    if (cfg.once) {
      // Fail fast (exit 2) when the mapper is not there, before reading anything.
      try {
        await transport.send('GET', '/healthz');
      } catch (e) {
        throw unreachable(cfg.mapperUrl, e);
      }
      await watcher.run(ctx.signal);
      log(`kafka watcher: parsed with the ${watcher.parser}`);
      await reporter.flush();
      const s = reporter.stats();
      if (s.queuedObservations + s.pendingObservations > 0) {
        throw unreachable(cfg.mapperUrl, new Error(`${s.queuedObservations} observations not delivered`));
      }
      if (s.rejectedBatches > 0) {
        throw new CallmapError(
          'KAFKA_REPORT_REJECTED',
          `the mapper at ${cfg.mapperUrl} rejected ${s.rejectedBatches} report batch(es); check that the mapper and this watcher are the same callmap version`,
        );
      }
      ctx.stdout.write(`${summary(stats)}\n`);
      return EXIT.ok;
    }
    if (cfg.metricsPort !== undefined) {
      metrics = await serveMetrics(
        kafkaRegistry(stats, () => reporter.stats()),
        cfg.metricsPort,
        cfg.metricsHost,
      );
      log(`kafka watcher: metrics on :${metrics.port}/metrics`);
    }
    const what =
      cfg.source.kind === 'file'
        ? `file ${cfg.source.path}`
        : cfg.source.kind === 'servers'
          ? cfg.source.servers.map((s) => `${s.name}.${s.namespace}`).join(', ')
          : `pods matching ${cfg.source.selector}`;
    log(
      `kafka watcher: following ${what}; reporting to ${cfg.mapperUrl} every ${cfg.reportIntervalMs} ms; parsing with the ${watcher.parser}`,
    );
    await watcher.run(ctx.signal);
    log(summary(stats));
    return EXIT.ok;
  } finally {
    await reporter.shutdown(cfg.once ? 1_000 : 10_000);
    await transport.close().catch(() => {});
    await metrics?.close();
  }
}

export const command: Command = {
  name: 'watch kafka',
  summary: 'Follow Kafka authorizer logs (pod logs or a file) and report topic-level access',
  usage,
  run,
};
