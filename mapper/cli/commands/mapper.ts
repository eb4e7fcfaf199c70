/** `callmap mapper`: run the mapper service until SIGINT/SIGTERM. */

import { DEFAULT_CLUSTER_DOMAIN } from '../../k8s/resolver.ts';
import { kubeconfigSourceFrom } from '../../k8s/sources.ts';
import { runMapper } from '../../main.ts';
import { DEFAULT_RETENTION, validateSchedule } from '../../snapshots/index.ts';
import { SYNC_MODES } from '../../store/sqlite-store.ts';
import { duration, oneOf, parseCli, port, positiveInt } from '../args.ts';
import { type Command, UsageError } from '../command.ts';

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

const usage = `Usage: callmap mapper [options]

Run the mapper: the REST API that sniffers and watchers report to, the durable map (SQLite),
/metrics, and the live web map at /. Resolves IPs and names to workloads through the Kubernetes API
(kubeconfig from --kubeconfig, $KUBECONFIG, ~/.kube/config, or in-cluster service account).
Stops gracefully on SIGINT/SIGTERM: stops accepting, finishes in-flight ingests, closes the database.

Options:
      --port N                        Port to listen on (env CALLMAP_MAPPER_PORT, default 9090; 0 = any)
      --host ADDR                     Address to bind (env CALLMAP_MAPPER_HOST, default 0.0.0.0)
      --db PATH                       Database file (env CALLMAP_DB, default ./callmap.db)
      --db-sync full|normal           full (default): fsync every commit, survives power loss;
                                      normal: survives process crashes only, faster
      --max-body SIZE                 Largest accepted report batch, e.g. 8MB, 512KB, 1048576 (default 8MB)
      --kubeconfig PATH               Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)
      --context NAME                  Kubeconfig context to use
      --cluster-domain DOMAIN         Cluster DNS domain (default cluster.local)
      --service-name-annotation KEY   Pod annotation that overrides the workload name (default
                                      callmap.io/workload-name; intents.otterize.com/service-name
                                      is always honoured)
      --snapshot-schedule CRON        Take a map snapshot on this cron schedule, e.g. "0 * * * *"
                                      (hourly); default: only when asked (callmap report)
      --snapshot-keep N               Keep at most N snapshots, at least 2 (default 168)
      --snapshot-max-age DURATION     Drop snapshots older than this, e.g. 30d, 12h (default 30d)
  -h, --help                          Show this help

Endpoints: POST /api/v1/reports, GET /api/v1/intents, /api/v1/graph, /api/v1/clientintents,
POST /api/v1/reset, GET /api/v1/events, /api/v1/snapshots (POST, GET, /{id}, /{id}/diff), /healthz, /readyz, /metrics, /api/v1/openapi.yaml.

Exit codes: 0 stopped cleanly, 1 start-up failed (database corrupt/locked, port in use, no kubeconfig),
64 bad flag.
`;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `8MB`, `512k`, `1048576` → bytes (binary units). */
export function byteSize(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(v.trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined)
    throw new UsageError(`--${flag} must be a size like 8MB, 512KB or 1048576; got ${JSON.stringify(v)}`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isFinite(n) || n < 1024) throw new UsageError(`--${flag} must be at least 1KB; got ${JSON.stringify(v)}`);
  return n;
}

export const command: Command = {
  name: 'mapper',
  summary: 'Run the mapper service (REST API, /metrics, live web map)',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      db: { type: 'string' },
      'db-sync': { type: 'string' },
      'max-body': { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'cluster-domain': { type: 'string' },
      'service-name-annotation': { type: 'string' },
      'snapshot-schedule': { type: 'string' },
      'snapshot-keep': { type: 'string' },
      'snapshot-max-age': { type: 'string' },
    });
    const snapshotSchedule = values['snapshot-schedule'];
    if (snapshotSchedule !== undefined) {
      try {
        validateSchedule(snapshotSchedule);
      } catch (e) {
        throw new UsageError(`--snapshot-schedule: ${(e as Error).message}`);
      }
    }
    const snapshotKeep = positiveInt('snapshot-keep', values['snapshot-keep'], DEFAULT_RETENTION.keep);
    if (snapshotKeep < 2) {
      throw new UsageError('--snapshot-keep must be at least 2 so a report can diff against the previous snapshot');
    }
    const snapshotMaxAgeMs = duration('snapshot-max-age', values['snapshot-max-age'], DEFAULT_RETENTION.maxAgeMs ?? 0);
    const env = ctx.env;
    const listenPort = port('port', values.port ?? env['CALLMAP_MAPPER_PORT'], 9090);
    const host = values.host ?? env['CALLMAP_MAPPER_HOST'] ?? '0.0.0.0';
    const dbPath = values.db ?? env['CALLMAP_DB'] ?? './callmap.db';
    if (dbPath.trim() === '') throw new UsageError('--db must not be empty');
    const dbSync = oneOf('db-sync', values['db-sync'], SYNC_MODES, 'full');
    const maxBodyBytes = byteSize('max-body', values['max-body'], DEFAULT_MAX_BODY);
    const clusterDomain = (values['cluster-domain'] ?? DEFAULT_CLUSTER_DOMAIN).replace(/^\.+|\.+$/g, '');
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(clusterDomain)) {
      throw new UsageError(
        `--cluster-domain must be a DNS domain like cluster.local; got ${JSON.stringify(values['cluster-domain'])}`,
      );
    }
    const annotation = values['service-name-annotation'];
    if (annotation !== undefined && !/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(annotation)) {
      throw new UsageError(`--service-name-annotation must be an annotation key; got ${JSON.stringify(annotation)}`);
    }
    const kubeconfig = kubeconfigSourceFrom({ path: values.kubeconfig, context: values.context, env });
    await runMapper(
      {
        host,
        port: listenPort,
        dbPath,
        dbSync,
        maxBodyBytes,
        kube: {
          kubeconfig,
          clusterDomain,
          ...(annotation !== undefined ? { overrideAnnotation: annotation } : {}),
        },
        log: (line) => ctx.stderr.write(`${line}\n`),
        snapshots: {
          retention: { keep: snapshotKeep, maxAgeMs: snapshotMaxAgeMs },
          ...(snapshotSchedule !== undefined ? { schedule: snapshotSchedule } : {}),
        },
      },
      ctx.signal,
    );
    return 0;
  },
};
