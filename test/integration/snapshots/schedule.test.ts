/** The mapper-side snapshot schedule (node-cron, real timers; 6-field expressions tick every second). */
import path from 'node:path';
import test from 'ava';
import { startSnapshots } from '../../../mapper/snapshots/index.ts';
import { startSnapshotScheduler, validateSchedule } from '../../../mapper/snapshots/scheduler.ts';
import { openMapStore } from '../../../mapper/store/sqlite-store.ts';
import { tempDir } from '../../unit/mapper/fixtures.ts';

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await wait(50);
  }
}

test('invalid expressions are refused with SNAPSHOT_BAD_SCHEDULE; valid ones pass', (t) => {
  for (const bad of ['', ' ', 'every hour', '61 * * * *', '* * * * * * *', '0 25 * * *']) {
    const e = t.throws(() => validateSchedule(bad));
    t.is((e as { code?: string }).code, 'SNAPSHOT_BAD_SCHEDULE', JSON.stringify(bad));
    t.regex(e.message, /is not a valid cron expression; use 5 fields/);
  }
  for (const ok of ['0 * * * *', '*/5 * * * *', '0 0 * * 1-5', '*/10 * * * * *'])
    t.notThrows(() => validateSchedule(ok));
  t.throws(() => startSnapshotScheduler({ expression: 'nope', run: () => {}, log: () => {} }));
});

test('startSnapshots takes scheduled snapshots into the snapshot database until stopped', async (t) => {
  const dir = tempDir('callmap-sched-');
  const map = openMapStore({ path: path.join(dir, 'callmap.db'), sync: 'normal' });
  const lines: string[] = [];
  const h = startSnapshots(map, {
    mapDbPath: path.join(dir, 'callmap.db'),
    sync: 'normal',
    schedule: '* * * * * *',
    log: (l) => lines.push(l),
  });
  t.teardown(() => {
    h.close();
    map.close();
  });
  t.is(h.store.path, path.join(dir, 'callmap.snapshots.db'));
  await until(() => h.store.list().length >= 2, 5000);
  await h.stopSchedule();
  const n = h.store.list().length;
  t.true(h.store.list().every((s) => s.trigger === 'schedule'));
  t.regex(lines[0] ?? '', /^callmap mapper: snapshot \d+ taken \(0 edges\)$/);
  await wait(1300);
  t.is(h.store.list().length, n, 'no snapshot after the schedule stopped');
  t.is(h.scheduler?.stats().failures, 0);
});

test('runs never overlap, a failing run is logged and counted without rejecting, shutdown waits for a run', async (t) => {
  let active = 0;
  let maxActive = 0;
  let calls = 0;
  const lines: string[] = [];
  const s = startSnapshotScheduler({
    expression: '* * * * * *',
    log: (l) => lines.push(l),
    run: async () => {
      calls++;
      active++;
      maxActive = Math.max(maxActive, active);
      await wait(1500);
      active--;
      if (calls === 1) throw new Error('disk full');
    },
  });
  await until(() => calls >= 2, 6000);
  await s.shutdown();
  t.is(active, 0, 'shutdown waited for the run in progress');
  t.is(maxActive, 1);
  const st = s.stats();
  t.is(st.failures, 1);
  t.is(st.lastError, 'disk full');
  t.true(st.runs >= 1);
  t.true(st.skipped >= 1, 'ticks during a 1.5 s run were skipped, not queued');
  t.deepEqual(lines, ['callmap mapper: scheduled snapshot failed: disk full']);
  await s.shutdown();
});
