/**
 * The end-to-end set-up the reporter tests share: a Kubernetes API test server with fixture
 * objects, a real KubeResolver synced against it, and the real mapper service (SQLite store in a
 * temp directory, no web map) on 127.0.0.1:0. Everything is closed in the test's teardown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { createKubeResolver } from '../../mapper/k8s/resolver.ts';
import { type MapperService, startMapperService } from '../../mapper/service.ts';
import { type KubeApiTestServer, startKubeApiServer } from '../kube-api-server/index.ts';

/** `ownerReferences` naming one controller. */
export const owner = (kind: string, name: string) => [
  { apiVersion: 'apps/v1', kind, name, uid: `uid-${kind}-${name}`, controller: true },
];

/** A controller object (Deployment, ReplicaSet, StatefulSet, …), optionally owned. */
export const workload = (kind: string, name: string, ns: string, ownerRefs?: object[]) => ({
  apiVersion: 'apps/v1',
  kind,
  metadata: { name, namespace: ns, uid: `uid-${kind}-${name}`, ...(ownerRefs ? { ownerReferences: ownerRefs } : {}) },
  spec: {},
});

export interface ResolvedMapper {
  kube: KubeApiTestServer;
  mapper: MapperService;
  /** Temp directory (holds the database; tests may put files there). */
  dir: string;
}

export async function startResolvedMapper(
  t: ExecutionContext,
  objects: object[],
  prefix = 'callmap-e2e-',
): Promise<ResolvedMapper> {
  const kube = await startKubeApiServer({ objects });
  t.teardown(() => kube.close());
  const resolver = createKubeResolver({
    kubeconfig: { kind: 'file', path: kube.kubeconfigPath },
    informer: { backoffInitialMs: 20, backoffMaxMs: 200 },
  });
  resolver.start();
  t.teardown(() => resolver.shutdown());
  t.true(await resolver.waitForSync(10_000), 'the resolver synced with the test API server');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mapper = await startMapperService({
    port: 0,
    host: '127.0.0.1',
    db: { path: join(dir, 'map.db') },
    resolver: resolver.resolver,
    web: null,
    log: () => {},
  });
  t.teardown(() => mapper.close());
  return { kube, mapper, dir };
}
