/**
 * Mapper-side snapshot schedule on a cron expression (node-cron). A run never overlaps the previous
 * one, never rejects (failures are logged and counted), its timer does not keep the process alive,
 * and `shutdown()` stops it and waits for a run in progress.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { CallmapError } from '../contract/index.ts';

/** Throws SNAPSHOT_BAD_SCHEDULE when node-cron does not accept the expression. */
export function validateSchedule(expression: string): void {
  if (expression.trim() === '' || !cron.validate(expression)) {
    throw new CallmapError(
      'SNAPSHOT_BAD_SCHEDULE',
      `snapshot schedule ${JSON.stringify(expression)} is not a valid cron expression; use 5 fields (minute hour day month weekday) like "0 * * * *" for hourly, or 6 with seconds first`,
      { status: 400 },
    );
  }
}

export interface SchedulerStats {
  runs: number;
  failures: number;
  /** Ticks skipped because the previous run was still going. */
  skipped: number;
  lastRunAt: number | undefined;
  lastError: string | undefined;
}

export interface SnapshotScheduler {
  stats(): SchedulerStats;
  shutdown(): Promise<void>;
}

export interface SchedulerOptions {
  expression: string;
  /** Takes one snapshot; may be sync or async. */
  run: () => unknown;
  log: (line: string) => void;
  clock?: () => number;
  /** IANA time zone for the expression (default: the process's). */
  timezone?: string;
}

export function startSnapshotScheduler(opts: SchedulerOptions): SnapshotScheduler {
  validateSchedule(opts.expression);
  const clock = opts.clock ?? Date.now;
  const st: SchedulerStats = { runs: 0, failures: 0, skipped: 0, lastRunAt: undefined, lastError: undefined };
  let running: Promise<void> | undefined;
  let stopped = false;

  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      st.skipped++;
      return running;
    }
    running = (async () => {
      st.lastRunAt = clock();
      try {
        await opts.run();
        st.runs++;
      } catch (e) {
        st.failures++;
        st.lastError = (e as Error)?.message ?? String(e);
        opts.log(`callmap mapper: scheduled snapshot failed: ${st.lastError}`);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const task: ScheduledTask = cron.schedule(opts.expression, () => tick(), {
    name: 'callmap-snapshots',
    noOverlap: true,
    unref: true,
    suppressMissedWarning: true,
    logger: {
      info: () => {},
      debug: () => {},
      // Overlaps are expected with noOverlap and counted in stats().skipped instead of logged.
      warn: (m) => {
        if (!/overlap/i.test(m)) opts.log(`callmap mapper: snapshot schedule: ${m}`);
      },
      error: (m) => opts.log(`callmap mapper: snapshot schedule: ${String(m)}`),
    },
    ...(opts.timezone ? { timezone: opts.timezone } : {}),
  });

  task.on('execution:overlap', () => {
    st.skipped++;
  });

  return {
    stats: () => ({ ...st }),
    async shutdown() {
      if (stopped) return;
      stopped = true;
      try {
        await task.destroy();
      } catch {
        // destroying a stopped task is harmless
      }
      if (running) await running;
    },
  };
}
