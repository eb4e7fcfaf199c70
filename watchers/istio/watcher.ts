/**
 * One watcher tick: discover proxies → scrape their stats pages (bounded, each with a deadline)
 * → parse → counter deltas per proxy → one reporter view per edge → HTTP / workload-tcp
 * observations into the sink (the mapper client's ObservationReporter). I/O comes in through
 * seams (pod lister, dispatcher, clock, sink, log) so the whole tick runs against loopback servers.
 */

import type { Dispatcher } from 'undici';
import type { Observation } from '../../mapper/contract/index.ts';
import { type DeltaResult, dedupeReporters, toObservation } from './delta.ts';
import { type DiscoverySkip, discoverTargets, type PodLister, type TargetKind } from './discovery.ts';
import { type IstioEngine, loadIstioEngine } from './engine.ts';
import { mapBounded, type PageSource, SCRAPE_FAILURES, type ScrapeFailure, scrapePage } from './scrape.ts';
import { emptySkipCounts, type IstioMetric, type SkipCounts } from './series.ts';

export interface IstioWatcherConfig {
  /** Namespaces to watch; empty = all. */
  namespaces: readonly string[];
  concurrency: number;
  timeoutMs: number;
  maxBodyBytes: number;
  templatePaths: boolean;
  /** Read these pages instead of discovering pods (--stats-file / --stats-url). */
  staticSources?: readonly PageSource[];
}

export interface IstioWatcherDeps {
  /** Required unless config.staticSources is set. */
  lister?: PodLister;
  sink: { add(o: Observation): void };
  now?: () => number;
  log?: (line: string) => void;
  dispatcher?: Dispatcher;
  /** Page reader + counter state (default: the native one when built, else TypeScript; logged once). */
  engine?: IstioEngine;
}

export interface TickReport {
  targets: number;
  scraped: number;
  failures: Record<ScrapeFailure, number>;
  failed: Array<{ target: string; reason: ScrapeFailure; detail: string }>;
  discoverySkipped: Record<DiscoverySkip, number>;
  seriesParsed: number;
  seriesSkipped: SkipCounts;
  pathsDropped: number;
  firstSeen: number;
  resets: number;
  /** Source-reported deltas dropped because the server's proxy reported them (see delta.ts). */
  deduplicated: number;
  /** Observations handed to the sink. */
  edgesReported: number;
  droppedSources: number;
}

export const PATH_HINT =
  'istio_requests_total has no request_path label, so edges are reported without HTTP paths. ' +
  'To record paths and methods, add a Telemetry resource with tagOverrides for request_path ' +
  '(value: request.url_path) and request_method (value: request.method) on REQUEST_COUNT; ' +
  'see docs/istio-watcher.md#enabling-paths';

const METRICS_FOR: Readonly<Record<TargetKind | 'static', ReadonlySet<IstioMetric>>> = {
  sidecar: new Set(['istio_requests_total']),
  waypoint: new Set(['istio_requests_total']),
  ztunnel: new Set(['istio_tcp_connections_opened_total']),
  static: new Set(['istio_requests_total', 'istio_tcp_connections_opened_total']),
};

interface Job {
  id: string;
  label: string;
  source: PageSource;
  kind: TargetKind | 'static';
}

export interface IstioWatcher {
  tick(signal?: AbortSignal): Promise<TickReport>;
}

export function createIstioWatcher(config: IstioWatcherConfig, deps: IstioWatcherDeps): IstioWatcher {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  // Chosen (and logged) at the first tick, so a start-up error stays the only line of output.
  let engine = deps.engine;
  const namespaces = new Set(config.namespaces);
  let hinted = false;

  async function jobs(report: TickReport, signal?: AbortSignal): Promise<Job[]> {
    if (config.staticSources) {
      // One job per distinct page: the same page given twice is one proxy, and two concurrent
      // reads of one proxy's state would mix their counters.
      const byId = new Map<string, Job>();
      for (const source of config.staticSources) {
        const label = source.kind === 'url' ? source.url : source.path;
        if (!byId.has(label)) byId.set(label, { id: label, label, source, kind: 'static' });
      }
      return [...byId.values()];
    }
    if (!deps.lister) throw new Error('createIstioWatcher: a pod lister is required without static sources');
    const d = await discoverTargets(deps.lister, config.namespaces, signal);
    report.discoverySkipped = d.skipped;
    return d.targets.map((t) => ({
      id: t.id,
      label: `${t.kind} ${t.pod.namespace}/${t.pod.name}`,
      source: { kind: 'url', url: t.url },
      kind: t.kind,
    }));
  }

  return {
    async tick(signal) {
      const report: TickReport = {
        targets: 0,
        scraped: 0,
        failures: Object.fromEntries(SCRAPE_FAILURES.map((r) => [r, 0])) as Record<ScrapeFailure, number>,
        failed: [],
        discoverySkipped: { 'not-running': 0, 'no-pod-ip': 0, 'no-proxy-container': 0 },
        seriesParsed: 0,
        seriesSkipped: emptySkipCounts(),
        pathsDropped: 0,
        firstSeen: 0,
        resets: 0,
        deduplicated: 0,
        edgesReported: 0,
        droppedSources: 0,
      };
      engine ??= loadIstioEngine(log);
      const deltas = engine;
      const todo = await jobs(report, signal);
      report.targets = todo.length;
      // Servers whose own proxy reported (destination series) in this tick.
      const covered = new Set<string>();
      const results: DeltaResult[] = [];
      const alive = new Set<string>();
      await mapBounded(todo, config.concurrency, async (job) => {
        alive.add(job.id); // a failed scrape keeps its state: the pod is still there
        const run = deltas.begin(job.id, {
          templatePaths: config.templatePaths,
          namespaces,
          metrics: METRICS_FOR[job.kind],
        });
        const outcome = await scrapePage(job.source, (c) => run.push(c), {
          timeoutMs: config.timeoutMs,
          maxBodyBytes: config.maxBodyBytes,
          ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
          ...(signal ? { signal } : {}),
        });
        let failure = outcome.ok ? undefined : { reason: outcome.reason, detail: outcome.detail };
        if (outcome.ok && !run.end())
          failure = { reason: 'bad-page', detail: 'JSON that is not an Envoy stats document' };
        if (failure) {
          report.failures[failure.reason]++;
          report.failed.push({ target: job.label, ...failure });
          return;
        }
        report.scraped++;
        const page = run.result();
        report.seriesParsed += page.parsed;
        report.pathsDropped += page.pathsDropped;
        for (const [k, v] of Object.entries(page.skipped)) report.seriesSkipped[k as keyof SkipCounts] += v;
        if (page.withoutPathLabel > 0 && !hinted) {
          hinted = true;
          log(`istio watcher: ${PATH_HINT}`);
        }
        const r = run.commit(covered);
        report.firstSeen += r.firstSeen;
        report.resets += r.resets;
        results.push(r);
      });
      if (!signal?.aborted) report.droppedSources = deltas.retain(alive);
      const time = now();
      let reported = 0;
      report.deduplicated = dedupeReporters(covered, results, (edge, count) => {
        deps.sink.add(toObservation(edge, count, time));
        reported++;
      });
      report.edgesReported = reported;
      if (report.failed.length > 0) {
        const shown = report.failed
          .slice(0, 5)
          .map((f) => `${f.target}: ${f.reason} (${f.detail})`)
          .join('; ');
        const more = report.failed.length > 5 ? `; and ${report.failed.length - 5} more` : '';
        log(
          `istio watcher: ${report.failed.length} of ${report.targets} stats pages could not be read: ${shown}${more}`,
        );
      }
      return report;
    },
  };
}
