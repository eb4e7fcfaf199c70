/** Starts a real mapper service on 127.0.0.1:0 with a temp DB and the static test resolver. */
import path from 'node:path';
import type { ReportBatch } from '../../../mapper/contract/index.ts';
import type { Resolver } from '../../../mapper/k8s/types.ts';
import { type MapperService, type MapperServiceOptions, startMapperService } from '../../../mapper/service.ts';
import { shopResolver, tempDir } from '../../unit/mapper/fixtures.ts';

export interface TestMapper extends MapperService {
  dbPath: string;
  post(batch: unknown, init?: { contentType?: string; raw?: string }): Promise<Response>;
  get(p: string): Promise<Response>;
}

export async function startTestMapper(
  over: Partial<MapperServiceOptions> & { resolver?: Resolver; dbPath?: string } = {},
): Promise<TestMapper> {
  const dbPath = over.dbPath ?? path.join(tempDir(), 'map.db');
  const svc = await startMapperService({
    port: 0,
    host: '127.0.0.1',
    db: { path: dbPath, sync: 'normal' },
    web: null,
    log: () => {},
    ...over,
    resolver: over.resolver ?? shopResolver(),
  });
  return {
    ...svc,
    dbPath,
    post(batch: unknown, init = {}) {
      return fetch(`${svc.url}/api/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': init.contentType ?? 'application/json' },
        body: init.raw ?? JSON.stringify(batch as ReportBatch),
      });
    },
    get(p: string) {
      return fetch(`${svc.url}${p}`);
    },
  };
}
