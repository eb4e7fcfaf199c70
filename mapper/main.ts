/**
 * Wiring of the `callmap mapper` process: database → Kubernetes resolver (informers) → HTTP
 * service, and the reverse on shutdown. Takes a typed config (the CLI command builds it from flags
 * and its env snapshot); reads no environment itself.
 */
import type { Router } from 'express';
import { createKubeResolver, type KubeResolverConfig, type KubeResolverHandle } from './k8s/resolver.ts';
import type { Resolver } from './k8s/types.ts';
import { type MapperService, startMapperService, tuneMapperHeap } from './service.ts';
import { type SnapshotsConfig, type SnapshotsHandle, startSnapshots } from './snapshots/index.ts';
import { openMapStore, type SyncMode } from './store/sqlite-store.ts';

export interface MapperMainConfig {
  host: string;
  port: number;
  dbPath: string;
  dbSync: SyncMode;
  maxBodyBytes: number;
  /** Kubernetes access and resolution options (kubeconfig source, cluster domain, override annotation). */
  kube: KubeResolverConfig;
  shutdownGraceMs?: number;
  log: (line: string) => void;
  /** Routers mounted before the web map (snapshots). */
  extraRouters?: ReadonlyArray<{ path: string; router: Router }>;
  /** Snapshot database, schedule and retention (snapshots are always served). */
  snapshots?: SnapshotsConfig;
  /** Seam for tests: builds the resolver instead of client-node informers. */
  resolverFactory?: (config: KubeResolverConfig) => ResolverHandle;
}

/** What main needs of a resolver factory (`createKubeResolver` returns a superset). */
export interface ResolverHandle {
  resolver: Resolver;
  start(): void;
  shutdown(): Promise<void>;
  stats(): unknown;
}

export interface RunningMapper {
  url: string;
  service: MapperService;
  resolver: ResolverHandle;
  /** Stops accepting, finishes in-flight ingests, closes the DB, stops the informers. */
  close(): Promise<void>;
}

export async function startMapper(cfg: MapperMainConfig): Promise<RunningMapper> {
  tuneMapperHeap();
  // The database first: a corrupt or locked file fails start-up before anything else happens.
  const store = openMapStore({ path: cfg.dbPath, sync: cfg.dbSync });
  let snaps: SnapshotsHandle;
  try {
    snaps = startSnapshots(store, { ...cfg.snapshots, mapDbPath: cfg.dbPath, sync: cfg.dbSync, log: cfg.log });
  } catch (e) {
    store.close();
    throw e;
  }
  let handle: ResolverHandle;
  try {
    handle = (cfg.resolverFactory ?? (createKubeResolver as (c: KubeResolverConfig) => KubeResolverHandle))(cfg.kube);
  } catch (e) {
    await snaps.stopSchedule();
    snaps.close();
    store.close();
    throw e;
  }
  handle.start();
  let service: MapperService;
  try {
    service = await startMapperService({
      host: cfg.host,
      port: cfg.port,
      store,
      resolver: handle.resolver,
      maxBodyBytes: cfg.maxBodyBytes,
      log: cfg.log,
      extraRouters: [...(cfg.extraRouters ?? []), { path: snaps.path, router: snaps.router }],
      snapshotStats: snaps.store.stats,
      ...(cfg.shutdownGraceMs !== undefined ? { shutdownGraceMs: cfg.shutdownGraceMs } : {}),
    });
  } catch (e) {
    await snaps.stopSchedule();
    snaps.close();
    await handle.shutdown();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    url: service.url,
    service,
    resolver: handle,
    close() {
      closing ??= (async () => {
        await snaps.stopSchedule();
        await service.close();
        snaps.close();
        await handle.shutdown();
      })();
      return closing;
    },
  };
}

/** Runs until `signal` aborts, then shuts down gracefully. */
export async function runMapper(cfg: MapperMainConfig, signal: AbortSignal): Promise<void> {
  const m = await startMapper(cfg);
  cfg.log(`callmap mapper listening on ${m.url} (database ${cfg.dbPath})`);
  if (!signal.aborted)
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  cfg.log('callmap mapper: shutting down (finishing in-flight requests)');
  await m.close();
  cfg.log('callmap mapper: stopped; database closed');
}
