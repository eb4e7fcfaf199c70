/**
 * Snapshot reports: durable snapshots of the map, their REST API, the mapper-side schedule, diffs
 * and report rendering. `startSnapshots` wires the mapper side (used by mapper/main.ts).
 */
import type { Router } from 'express';
import type { MapStore } from '../store/types.ts';
import { SNAPSHOTS_PATH, snapshotsRouter } from './router.ts';
import { type SnapshotScheduler, startSnapshotScheduler } from './scheduler.ts';
import { DEFAULT_RETENTION, openSnapshotStore, type Retention, type SnapshotStore, snapshotDbPath } from './store.ts';

export * from './diff.ts';
export * from './router.ts';
export * from './scheduler.ts';
export * from './store.ts';
export * from './types.ts';

export interface SnapshotsConfig {
  /** Snapshot database; default derived from the map database path (`snapshotDbPath`). */
  path?: string;
  /** Cron expression for mapper-side snapshots; absent: only on request. */
  schedule?: string;
  retention?: Retention;
}

export interface SnapshotsHandle {
  store: SnapshotStore;
  /** Mount at `path`. */
  router: Router;
  path: string;
  scheduler: SnapshotScheduler | undefined;
  /** Stops the schedule (waiting for a run in progress). Call before the HTTP server closes. */
  stopSchedule(): Promise<void>;
  /** Closes the snapshot database. Call after the HTTP server closed. */
  close(): void;
}

export function startSnapshots(
  map: MapStore,
  cfg: SnapshotsConfig & {
    mapDbPath: string;
    sync: 'full' | 'normal';
    log: (line: string) => void;
    clock?: () => number;
  },
): SnapshotsHandle {
  const store = openSnapshotStore({
    path: cfg.path ?? snapshotDbPath(cfg.mapDbPath),
    map,
    sync: cfg.sync,
    retention: cfg.retention ?? DEFAULT_RETENTION,
    ...(cfg.clock ? { clock: cfg.clock } : {}),
  });
  let scheduler: SnapshotScheduler | undefined;
  try {
    if (cfg.schedule !== undefined) {
      scheduler = startSnapshotScheduler({
        expression: cfg.schedule,
        run: () => {
          const s = store.take({ trigger: 'schedule' });
          cfg.log(`callmap mapper: snapshot ${s.id} taken (${s.totals.edges} edges)`);
        },
        log: cfg.log,
      });
    }
  } catch (e) {
    store.close();
    throw e;
  }
  return {
    store,
    router: snapshotsRouter(store),
    path: SNAPSHOTS_PATH,
    scheduler,
    stopSchedule: async () => {
      await scheduler?.shutdown();
    },
    close: () => store.close(),
  };
}
