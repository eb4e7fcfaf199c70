/**
 * `callmap watch istio`: scrape Istio proxies' stats over HTTP and report HTTP paths/methods
 * (and ambient L4 edges) to the mapper. Reads the environment only through ctx.env.
 */
import { hostname } from 'node:os';
import { Agent } from 'undici';
import { duration, list, parseCli, port, positiveInt } from '../../mapper/cli/args.ts';
import { type CliContext, type Command, EXIT, UsageError } from '../../mapper/cli/command.ts';
import {
  httpTransport,
  ObservationReporter,
  type ReporterStats,
  resolveMapperUrl,
  unreachable,
} from '../../mapper/client/index.ts';
import { CallmapError } from '../../mapper/contract/index.ts';
import { firstKubeconfigFile, loadKubeConfig } from '../common/kubeconfig.ts';
import { type MetricsServer, serveMetrics } from '../common/metrics-server.ts';
import { createPeriodic } from '../common/periodic.ts';
import { kubePodLister, type PodLister } from './discovery.ts';
import { createWatcherMetrics } from './metrics.ts';
import type { PageSource } from './scrape.ts';
import { createIstioWatcher, type IstioWatcherConfig, type TickReport } from './watcher.ts';

const usage = `Usage: callmap watch istio [options]

Scrapes the stats of Istio proxies over HTTP (no exec, no sidecar of ours) and reports HTTP
paths and methods between workloads, plus ambient (ztunnel) L4 edges, to the mapper.

Options:
  --mapper-url URL        Mapper to report to (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  --namespace NS[,NS…]    Only these namespaces (repeatable; default: all)
  --interval DURATION     Time between scrapes (default 30s)
  --once                  Scrape once, report, exit (CronJob / serverless mode)
  --kubeconfig PATH       Kubeconfig (env KUBECONFIG: its first existing file; in-cluster config
                          inside a pod; else ~/.kube/config)
  --concurrency N         Pages scraped at the same time (default 8)
  --timeout DURATION      Deadline per stats page (default 5s)
  --max-page-mb N         Largest stats page read, MiB (default 256)
  --template-paths        Collapse ids in paths: /orders/123 -> /orders/{id} (also UUIDs, hex ids)
  --stats-file FILE       Read this stats page instead of asking Kubernetes (repeatable)
  --stats-url URL         Scrape this URL instead of asking Kubernetes (repeatable);
                          Prometheus text or Envoy admin JSON (/stats?format=json)
  --metrics-port PORT     Serve the watcher's own /metrics and /healthz on this port (0 = any free port)
  -h, --help              This help

Pods scraped: running pods labelled security.istio.io/tlsMode (sidecars) or
gateway.istio.io/managed (waypoints) at :15090/stats/prometheus, and app=ztunnel at
:15020/stats/prometheus; prometheus.io/port and prometheus.io/path annotations override.
Needs RBAC: list pods. Paths need a Telemetry tagOverrides config: see docs/istio-watcher.md.

Exit codes: 0 ok (--once) or stopped by SIGINT/SIGTERM, 1 failure (kubeconfig or Kubernetes API,
no --stats-file/--stats-url page readable, batches rejected, metrics port taken), 2 mapper
unreachable (--once), 64 bad flag.`;

const OPTIONS = {
  'mapper-url': { type: 'string' },
  namespace: { type: 'string', multiple: true },
  interval: { type: 'string' },
  once: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  'max-page-mb': { type: 'string' },
  'template-paths': { type: 'boolean' },
  'stats-file': { type: 'string', multiple: true },
  'stats-url': { type: 'string', multiple: true },
  'metrics-port': { type: 'string' },
} as const;

export interface IstioCliConfig {
  mapperUrl: string;
  intervalMs: number;
  once: boolean;
  kubeconfig: string | undefined;
  inCluster: boolean;
  metricsPort: number | undefined;
  watcher: IstioWatcherConfig;
}

/** Flags > env > defaults, validated. Pure (env passed in). */
export function parseIstioArgs(argv: string[], env: Readonly<Record<string, string | undefined>>): IstioCliConfig {
  const { values: v } = parseCli(argv, OPTIONS);
  for (const flag of ['stats-file', 'stats-url'] as const) {
    if ((v[flag] ?? []).some((s) => s.trim() === '')) {
      throw new UsageError(
        `--${flag} must not be empty; give a ${flag === 'stats-file' ? 'file path' : 'http(s) URL'}`,
      );
    }
  }
  const sources: PageSource[] = [
    ...list(v['stats-file']).map((path): PageSource => ({ kind: 'file', path })),
    ...list(v['stats-url']).map((url): PageSource => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        throw new UsageError(`--stats-url must be an http(s) URL; got ${JSON.stringify(url)}`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new UsageError(`--stats-url must be an http(s) URL; got ${JSON.stringify(url)}`);
      }
      return { kind: 'url', url };
    }),
  ];
  const namespaces = list(v.namespace);
  for (const ns of namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) {
      throw new UsageError(`--namespace must be Kubernetes namespace names; got ${JSON.stringify(ns)}`);
    }
  }
  const maxPageMb = positiveInt('max-page-mb', v['max-page-mb'], 256);
  const metricsPort = v['metrics-port'] === undefined ? undefined : port('metrics-port', v['metrics-port'], 0);
  return {
    mapperUrl: resolveMapperUrl(v['mapper-url'], env),
    intervalMs: duration('interval', v.interval, 30_000),
    once: v.once === true,
    kubeconfig: v.kubeconfig ?? firstKubeconfigFile(env['KUBECONFIG']),
    inCluster: env['KUBERNETES_SERVICE_HOST'] !== undefined,
    metricsPort,
    watcher: {
      namespaces,
      concurrency: positiveInt('concurrency', v.concurrency, 8),
      timeoutMs: duration('timeout', v.timeout, 5_000),
      maxBodyBytes: maxPageMb * 1024 * 1024,
      templatePaths: v['template-paths'] === true,
      ...(sources.length > 0 ? { staticSources: sources } : {}),
    },
  };
}

const summary = (r: TickReport): string => {
  const failed = r.targets - r.scraped;
  const skipped = Object.values(r.seriesSkipped).reduce((a, b) => a + b, 0);
  return `istio watcher: ${r.targets} stats pages, ${r.scraped} read, ${failed} failed; ${r.seriesParsed} series (${skipped} skipped); ${r.edgesReported} edges reported`;
};

export async function runIstioWatcher(
  cfg: IstioCliConfig,
  ctx: CliContext,
  seams: { lister?: PodLister; metricsHost?: string; onMetricsPort?: (port: number) => void } = {},
): Promise<number> {
  const log = (line: string): void => {
    ctx.stderr.write(`${line}\n`);
  };
  const lister = cfg.watcher.staticSources
    ? undefined
    : (seams.lister ??
      kubePodLister(
        loadKubeConfig({
          path: cfg.kubeconfig,
          inCluster: cfg.inCluster,
          code: 'KUBECONFIG_INVALID',
          hint: 'pass --kubeconfig PATH, or use --stats-file/--stats-url outside Kubernetes',
        }),
      ));
  const transport = httpTransport(cfg.mapperUrl, { timeoutMs: 10_000 });
  const reporter = new ObservationReporter({
    transport,
    reporter: {
      component: 'istio-watcher',
      instance: ctx.env['HOSTNAME'] ?? ctx.env['POD_NAME'] ?? hostname(),
      version: '0.1.0',
    },
    flushIntervalMs: Math.min(cfg.intervalMs, 10_000),
    ...(cfg.once ? { retry: { maxAttempts: 3, maxElapsedMs: 5_000 } } : {}),
    log,
  });
  const dispatcher = new Agent({
    connections: 2,
    connect: { timeout: cfg.watcher.timeoutMs },
    headersTimeout: cfg.watcher.timeoutMs,
    bodyTimeout: cfg.watcher.timeoutMs,
  });
  const watcher = createIstioWatcher(cfg.watcher, { ...(lister ? { lister } : {}), sink: reporter, dispatcher, log });
  const metrics = createWatcherMetrics(() => reporter.stats());
  let metricsServer: MetricsServer | undefined;
  try {
    metricsServer =
      cfg.metricsPort === undefined
        ? undefined
        : await serveMetrics(metrics.registry, cfg.metricsPort, seams.metricsHost);
  } catch (e) {
    await Promise.allSettled([dispatcher.close(), transport.close()]);
    throw e;
  }
  if (metricsServer) seams.onMetricsPort?.(metricsServer.port);
  const cleanup = async (): Promise<ReporterStats> => {
    const stats = await reporter.shutdown(cfg.once ? 5_000 : 10_000);
    await Promise.allSettled([dispatcher.close(), transport.close(), metricsServer?.close()]);
    return stats;
  };

  if (cfg.once) {
    try {
      // Fail fast (before scraping anything) when the mapper is not there.
      try {
        await transport.send('GET', '/healthz', undefined, AbortSignal.timeout(5_000));
      } catch (e) {
        throw unreachable(cfg.mapperUrl, e);
      }
      const started = Date.now();
      const report = await watcher.tick(ctx.signal);
      metrics.record(report, Date.now() - started);
      log(summary(report));
      if (ctx.signal.aborted) {
        log('istio watcher: interrupted; what was read is flushed, the rest is not reported');
        await reporter.flush(AbortSignal.timeout(5_000));
        return EXIT.failure;
      }
      if (cfg.watcher.staticSources && report.scraped === 0) {
        const first = report.failed[0];
        throw new CallmapError(
          'STATS_UNREADABLE',
          `none of the --stats-file/--stats-url pages could be read${first ? ` (${first.target}: ${first.reason}, ${first.detail})` : ''}; check the path or URL`,
          { status: 502 },
        );
      }
      await reporter.flush(AbortSignal.any([ctx.signal, AbortSignal.timeout(15_000)]));
      const s = reporter.stats();
      if (s.rejectedBatches > 0) {
        throw new CallmapError(
          'MAPPER_REJECTED',
          `the mapper rejected ${s.rejectedBatches} batch(es); see the log above and check that the mapper and the watcher are the same version`,
          { status: 502 },
        );
      }
      if (s.queuedObservations + s.pendingObservations > 0) {
        throw unreachable(cfg.mapperUrl, new Error(`${s.queuedObservations} observations not delivered`));
      }
      return EXIT.ok;
    } finally {
      await cleanup();
    }
  }

  const periodic = createPeriodic({
    intervalMs: cfg.intervalMs,
    timeoutMs: Math.max(cfg.intervalMs, cfg.watcher.timeoutMs * 2),
    async run(signal) {
      const started = Date.now();
      const report = await watcher.tick(signal);
      metrics.record(report, Date.now() - started);
      log(summary(report));
    },
    onError(e) {
      metrics.tickFailed();
      log(`istio watcher: tick failed: ${(e as Error)?.message ?? String(e)}`);
    },
  });
  reporter.start();
  periodic.start();
  // The loop's timers are unref'd; the process runner (mapper/cli/process.ts) keeps the process
  // alive while this command runs.
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await periodic.shutdown();
    await cleanup();
  }
  return EXIT.ok;
}

export const command: Command = {
  name: 'watch istio',
  summary: 'Scrape Istio proxy stats over HTTP and report HTTP paths and methods',
  usage,
  async run(argv: string[], ctx: CliContext): Promise<number> {
    return runIstioWatcher(parseIstioArgs(argv, ctx.env), ctx);
  },
};
