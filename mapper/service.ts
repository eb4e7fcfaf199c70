/**
 * The mapper service: the durable map + the HTTP API on a listening server, with a graceful,
 * idempotent shutdown (stop accepting, refuse new ingests, let in-flight requests finish, end
 * event streams, then close the database so nothing acknowledged is lost).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { createMapperApp, type MapperApp, type MapperAppOptions } from './api/app.ts';
import { registerSnapshotMetrics, type SnapshotMetricsSource } from './api/metrics.ts';
import { CallmapError } from './contract/index.ts';
import { openMapStore, type StoreOptions } from './store/sqlite-store.ts';
import type { MapStore } from './store/types.ts';

/**
 * How far V8 lets the old generation grow past the live heap before a full collection, in
 * percent, for the `callmap mapper` process (ADR 0100). V8's own factor goes up to 4× the live heap
 * under a high allocation rate (ingest: parsed batches promoted before they die), so the peak
 * resident memory followed the allocation rate (190–340 MB at a 63 MB live heap); 1.5× keeps the
 * ingest peak near 230 MB for no measurable CPU. Process-wide: `startMapper` applies it.
 */
export const MAPPER_HEAP_GROWING_PERCENT = 50;

/** Applies the mapper's heap growth bound to this process (0 leaves V8's default). */
export function tuneMapperHeap(percent: number = MAPPER_HEAP_GROWING_PERCENT): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
}

export interface MapperServiceOptions extends Omit<MapperAppOptions, 'store'> {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (0 = any free port). */
  port: number;
  /** Database to open; ignored when `store` is given. */
  db?: StoreOptions;
  /** An already open store (the service then closes it on shutdown too). */
  store?: MapStore;
  /** How long in-flight requests may take after shutdown starts before connections are cut (ms). */
  shutdownGraceMs?: number;
  /** Snapshot counters for /metrics (the snapshot store's `stats`), read at each scrape. */
  snapshotStats?: () => SnapshotMetricsSource;
}

export interface MapperService {
  /** `http://host:port` */
  url: string;
  port: number;
  store: MapStore;
  mapper: MapperApp;
  server: http.Server;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

export async function startMapperService(opts: MapperServiceOptions): Promise<MapperService> {
  const store = opts.store ?? openMapStore(opts.db ?? { path: './callmap.db' });
  let mapper: MapperApp;
  let server: http.Server;
  try {
    mapper = createMapperApp({ ...opts, store });
    if (opts.snapshotStats) registerSnapshotMetrics(mapper.metrics.registry, opts.snapshotStats);
    server = http.createServer(mapper.app);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(
          new CallmapError(
            e.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'LISTEN_FAILED',
            e.code === 'EADDRINUSE'
              ? `port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use; pick another with --port`
              : `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port}: ${e.message}`,
            { cause: e },
          ),
        );
      };
      server.once('error', onError);
      server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (e) {
    store.close();
    throw e;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      mapper.beginShutdown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), opts.shutdownGraceMs ?? 10_000);
      grace.unref();
      await closed;
      clearTimeout(grace);
      mapper.ingest.flush();
      store.close();
    })();
    return closing;
  };

  return { url: `http://${host}:${addr.port}`, port: addr.port, store, mapper, server, close };
}
