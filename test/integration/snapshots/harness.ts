/** A real mapper service on 127.0.0.1:0 (temp DB, static resolver) with the snapshots router mounted. */
import path from 'node:path';
import type { Observation } from '../../../mapper/contract/index.ts';
import { type MapperService, startMapperService } from '../../../mapper/service.ts';
import { SNAPSHOTS_PATH, snapshotsRouter } from '../../../mapper/snapshots/router.ts';
import {
  openSnapshotStore,
  type Retention,
  type SnapshotStore,
  snapshotDbPath,
} from '../../../mapper/snapshots/store.ts';
import { openMapStore } from '../../../mapper/store/sqlite-store.ts';
import { batch, shopResolver, T0, tcp, tempDir } from '../../unit/mapper/fixtures.ts';

export interface SnapshotMapper extends MapperService {
  dir: string;
  snapshots: SnapshotStore;
  snapshotPath: string;
  /** POSTs observations as one batch; resolves with the HTTP status. */
  feed(observations: Observation[]): Promise<number>;
  json<T = unknown>(method: 'GET' | 'POST', p: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export async function startSnapshotMapper(
  opts: { retention?: Retention; dir?: string; clock?: () => number } = {},
): Promise<SnapshotMapper> {
  const dir = opts.dir ?? tempDir('callmap-snapmapper-');
  const dbPath = path.join(dir, 'callmap.db');
  const map = openMapStore({ path: dbPath, sync: 'normal' });
  const snapshotPath = snapshotDbPath(dbPath);
  const snapshots = openSnapshotStore({
    path: snapshotPath,
    map,
    sync: 'normal',
    retention: opts.retention ?? { keep: 50 },
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const svc = await startMapperService({
    port: 0,
    host: '127.0.0.1',
    store: map,
    resolver: shopResolver(),
    web: null,
    log: () => {},
    extraRouters: [{ path: SNAPSHOTS_PATH, router: snapshotsRouter(snapshots) }],
    snapshotStats: snapshots.stats,
  });
  const close = async (): Promise<void> => {
    await svc.close();
    snapshots.close();
  };
  return {
    ...svc,
    close,
    dir,
    snapshots,
    snapshotPath,
    async feed(observations) {
      const res = await fetch(`${svc.url}/api/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch(observations)),
      });
      await res.arrayBuffer();
      return res.status;
    },
    async json(method, p, body) {
      const res = await fetch(`${svc.url}${p}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as never };
    },
  };
}

// ---- observations against the shop fixture cluster (frontend, checkout, payments in shop/billing, kafka in data)

export const http = (method: string, p: string, server = 'checkout'): Observation => ({
  kind: 'http',
  client: { name: 'frontend', namespace: 'shop' },
  server: { name: server, namespace: 'shop' },
  method,
  path: p,
  count: 1,
  time: T0,
});

export const kafka = (topic: string, operation: 'produce' | 'consume' | 'describe', allowed: boolean): Observation => ({
  kind: 'kafka',
  clientIp: '10.0.0.2',
  serverPod: { name: 'kafka-0', namespace: 'data' },
  resourceType: 'Topic',
  resourceName: topic,
  patternType: 'LITERAL',
  operation,
  allowed,
  count: 1,
  time: T0,
});

/** payments (billing) resolves api.stripe.com and connects to it. */
export const external = (domain = 'api.stripe.com', ip = '52.1.1.1'): Observation[] => [
  { kind: 'dns', clientIp: '10.0.0.3', name: domain, ips: [ip], ttl: 300, time: T0 },
  tcp('10.0.0.3', ip, 443, T0 + 5),
];

/** frontend → checkout (via Service checkout-svc) on 8080. */
export const frontendToCheckout = (): Observation => tcp('10.0.0.1', '10.96.0.2', 8080);
/** checkout → payments (via Service payments) on 443. */
export const checkoutToPayments = (): Observation => tcp('10.0.0.2', '10.96.0.3', 443);

export { T0, tcp };
