/**
 * The real `callmap mapper` process (child, against the Kubernetes API test server) with
 * --snapshot-schedule/--snapshot-keep: scheduled snapshots appear over HTTP, retention holds,
 * `callmap report` works against it, and the snapshot database outlives a SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { SnapshotMeta } from '../../../mapper/snapshots/types.ts';
import { eventually } from '../../helpers/eventually.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';
import { startKubeApiServer } from '../../kube-api-server/index.ts';
import { tempDir } from '../../unit/mapper/fixtures.ts';
import { runCli, spawnMapper } from '../mapper/harness.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/k8s/resolution.yaml', import.meta.url));

test('callmap mapper --snapshot-schedule takes snapshots itself, keeps N, serves them to callmap report', async (t) => {
  const kube = await startKubeApiServer({ fixture: FIXTURE });
  t.teardown(() => kube.close());
  const db = path.join(tempDir(), 'e2e.db');
  const m = await spawnMapper([
    '--db',
    db,
    '--kubeconfig',
    kube.kubeconfigPath,
    '--snapshot-schedule',
    '* * * * * *',
    '--snapshot-keep',
    '3',
    '--snapshot-max-age',
    '1h',
  ]);
  t.teardown(() => {
    m.child.kill('SIGKILL');
  });
  const list = async (): Promise<SnapshotMeta[]> =>
    ((await (await fetch(`${m.url}/api/v1/snapshots`)).json()) as { snapshots: SnapshotMeta[] }).snapshots;
  t.true(await eventually(async () => (await list()).some((s) => s.id >= 4)), m.stderr());
  const l = await list();
  t.true(l.length <= 3, `retention keeps 3, got ${l.length}`);
  t.true(l.every((s) => s.trigger === 'schedule'));
  t.regex(m.stderr(), /callmap mapper: snapshot \d+ taken \(0 edges\)/);

  const r = await runCli(['report', '--mapper-url', m.url, '--format', 'json']);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.is(report.snapshot.trigger, 'api');
  t.true(report.previous?.trigger === 'schedule', 'the previous snapshot (same filter) is a scheduled one');

  // The real `callmap mapper` wires the snapshot store's counters into its /metrics.
  const metrics = await (await fetch(`${m.url}/metrics`)).text();
  const value = (series: string): number => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
  };
  t.is(value('callmap_snapshots_created_total{trigger="api"}'), 1);
  t.true(value('callmap_snapshots_created_total{trigger="schedule"}') >= 4, metrics);
  t.is(value('callmap_snapshot_failures_total{trigger="schedule"}'), 0);
  t.true(value('callmap_snapshots_pruned_total') >= 2, metrics);
  const stored = value('callmap_snapshots_stored');
  t.true(stored >= 1 && stored <= 3, metrics);
  t.true(value('callmap_snapshot_last_success_time_seconds') >= report.snapshot.takenAt / 1000, metrics);
  const checked = await promtoolCheckMetrics(metrics);
  t.is(checked.code, 0, checked.output);

  m.child.kill('SIGTERM');
  t.is(await m.exited, 0, m.stderr());
  t.true(fs.existsSync(path.join(path.dirname(db), 'e2e.snapshots.db')));
});
