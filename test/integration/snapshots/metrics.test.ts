/** Snapshot metrics on the mapper's /metrics: created through the REST API, pruned, failed; promtool-valid. */
import test from 'ava';
import { openSnapshotStore } from '../../../mapper/snapshots/store.ts';
import { openMapStore } from '../../../mapper/store/sqlite-store.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';
import { tempDir } from '../../unit/mapper/fixtures.ts';
import { frontendToCheckout, startSnapshotMapper } from './harness.ts';

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('snapshots taken through the API, by the schedule trigger, pruned by retention and failing show on /metrics', async (t) => {
  let now = 1_700_000_000_000;
  const m = await startSnapshotMapper({ retention: { keep: 2 }, clock: () => now });
  t.teardown(() => m.close());
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${m.url}/metrics`);
    t.is(res.status, 200);
    return res.text();
  };

  const empty = await scrape();
  t.is(sample(empty, 'callmap_snapshots_created_total{trigger="api"}'), 0);
  t.is(sample(empty, 'callmap_snapshots_created_total{trigger="schedule"}'), 0);
  t.is(sample(empty, 'callmap_snapshots_stored'), 0);
  t.is(sample(empty, 'callmap_snapshot_last_success_time_seconds'), 0);

  t.is(await m.feed([frontendToCheckout()]), 202);
  for (let i = 0; i < 3; i++) {
    now += 60_000;
    t.is((await m.json('POST', '/api/v1/snapshots')).status, 201);
  }
  // What the schedule's run does (startSnapshots → store.take({ trigger: 'schedule' })).
  now += 60_000;
  m.snapshots.take({ trigger: 'schedule' });
  // A bad request is not a snapshot attempt.
  t.is((await m.json('POST', '/api/v1/snapshots', { namespaces: ['Not A Namespace'] })).status, 400);

  const text = await scrape();
  t.is(sample(text, 'callmap_snapshots_created_total{trigger="api"}'), 3);
  t.is(sample(text, 'callmap_snapshots_created_total{trigger="schedule"}'), 1);
  t.is(sample(text, 'callmap_snapshot_failures_total{trigger="api"}'), 0);
  t.is(sample(text, 'callmap_snapshots_pruned_total'), 2, 'keep 2 of 4');
  t.is(sample(text, 'callmap_snapshots_stored'), 2);
  t.is(sample(text, 'callmap_snapshot_last_success_time_seconds'), now / 1000);
  t.is((await m.json<{ snapshots: unknown[] }>('GET', '/api/v1/snapshots')).body.snapshots.length, 2);
  t.regex(text, /# HELP callmap_snapshots_created_total \S/);
  t.regex(text, /# TYPE callmap_snapshot_last_success_time_seconds gauge/);
  const { code, output } = await promtoolCheckMetrics(text);
  t.is(code, 0, output);

  // A store error: the snapshot database is closed under the API (as during shutdown) → 503, counted.
  m.snapshots.close();
  const failed = await m.json<{ error: { code: string } }>('POST', '/api/v1/snapshots');
  t.is(failed.status, 503);
  t.is(failed.body.error.code, 'SHUTTING_DOWN');
  t.throws(() => m.snapshots.take({ trigger: 'schedule' }), { message: /closed/ });
  const after = await scrape();
  t.is(sample(after, 'callmap_snapshot_failures_total{trigger="api"}'), 1);
  t.is(sample(after, 'callmap_snapshot_failures_total{trigger="schedule"}'), 1);
  t.is(sample(after, 'callmap_snapshots_created_total{trigger="api"}'), 3, 'a failure creates nothing');
  t.is(sample(after, 'callmap_snapshots_stored'), 2);
  t.is((await promtoolCheckMetrics(after)).code, 0);
});

test('stored and last success time start from the snapshots already in the database (mapper restart)', (t) => {
  const dir = tempDir('callmap-snapmetrics-');
  const map = openMapStore({ path: `${dir}/callmap.db`, sync: 'normal' });
  t.teardown(() => map.close());
  const path = `${dir}/callmap.snapshots.db`;
  const first = openSnapshotStore({ path, map, clock: () => 5_000 });
  first.take();
  first.take();
  first.close();
  const again = openSnapshotStore({ path, map, clock: () => 9_000 });
  t.teardown(() => again.close());
  const st = again.stats();
  t.is(st.stored, 2);
  t.is(st.lastSuccessAt, 5_000);
  t.deepEqual(st.created, { api: 0, schedule: 0 }, 'counters are per process');
});
