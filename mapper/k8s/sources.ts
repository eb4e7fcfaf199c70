/**
 * Kubernetes access for identity resolution: where credentials come from (`kubeconfigSourceFrom`),
 * and one list+watch source per watched kind over plain HTTP (`kube-http.ts`; paged lists, watch
 * streams), each object trimmed to what the cluster state reads before anything keeps it (ADR 0046).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CallmapError } from '../contract/index.ts';
import type { StateKind } from './cluster-state.ts';
import type { ListResult, ListWatchSource, WatchHandle } from './informer.ts';
import { getJson, type KubeconfigSource, type KubeEndpoint, loadKubeEndpoint, watchStream } from './kube-http.ts';

export { type KubeconfigSource, loadKubeEndpoint, SERVICE_ACCOUNT_DIR } from './kube-http.ts';

/**
 * The usual places, in kubectl's order: an explicit path, `$KUBECONFIG` (first existing entry),
 * `~/.kube/config`, then in-cluster when `KUBERNETES_SERVICE_HOST` is set. Pure over the snapshot
 * it is given; throws a CallmapError when nothing fits.
 */
export function kubeconfigSourceFrom(input: {
  path?: string | undefined;
  context?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  homeDir?: string | undefined;
  exists?: (path: string) => boolean;
}): KubeconfigSource {
  const exists = input.exists ?? existsSync;
  const ctx = input.context !== undefined && input.context !== '' ? { context: input.context } : {};
  if (input.path !== undefined && input.path !== '') return { kind: 'file', path: input.path, ...ctx };
  const fromEnv = input.env['KUBECONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const first = fromEnv.split(':').find((p) => p !== '' && exists(p));
    if (first !== undefined) return { kind: 'file', path: first, ...ctx };
  }
  const home = input.homeDir ?? input.env['HOME'];
  if (home !== undefined && home !== '') {
    const p = join(home, '.kube', 'config');
    if (exists(p)) return { kind: 'file', path: p, ...ctx };
  }
  const host = input.env['KUBERNETES_SERVICE_HOST'];
  const port = input.env['KUBERNETES_SERVICE_PORT'];
  if (host !== undefined && host !== '' && port !== undefined && port !== '') return { kind: 'in-cluster', host, port };
  throw new CallmapError(
    'K8S_NO_KUBECONFIG',
    'No Kubernetes credentials found: pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, or run inside a cluster.',
  );
}

/** API path of each kind's cluster-wide collection. */
export const KIND_PATHS: Readonly<Record<StateKind, string>> = {
  Pod: '/api/v1/pods',
  Service: '/api/v1/services',
  Endpoints: '/api/v1/endpoints',
  EndpointSlice: '/apis/discovery.k8s.io/v1/endpointslices',
  Node: '/api/v1/nodes',
  ReplicaSet: '/apis/apps/v1/replicasets',
  Deployment: '/apis/apps/v1/deployments',
  StatefulSet: '/apis/apps/v1/statefulsets',
  DaemonSet: '/apis/apps/v1/daemonsets',
  Job: '/apis/batch/v1/jobs',
  CronJob: '/apis/batch/v1/cronjobs',
};

const WATCH_EVENTS = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** Makes list+watch sources for one cluster. */
export class KubeSources {
  readonly endpoint: KubeEndpoint;
  private readonly pageSize: number;

  constructor(source: KubeconfigSource | KubeEndpoint, pageSize = 500) {
    this.endpoint = 'setup' in source ? source : loadKubeEndpoint(source);
    this.pageSize = pageSize;
  }

  /**
   * List+watch of `kind`. `trim` maps each listed object and each ADDED/MODIFIED/DELETED event
   * object to what the consumer keeps, as it arrives: a list never holds every page's full objects.
   */
  source(kind: StateKind, trim: (obj: unknown) => unknown = (o) => o): ListWatchSource {
    const path = KIND_PATHS[kind];
    const ep = this.endpoint;
    return {
      list: async (): Promise<ListResult> => {
        const items: unknown[] = [];
        let cont: string | undefined;
        let resourceVersion = '';
        do {
          const query: Record<string, string | number> = { limit: this.pageSize };
          if (cont !== undefined) query['continue'] = cont;
          const page = (await getJson(ep, path, query)) as {
            items?: unknown;
            metadata?: { resourceVersion?: unknown; continue?: unknown };
          } | null;
          if (Array.isArray(page?.items)) for (const item of page.items) items.push(trim(item));
          if (resourceVersion === '' && typeof page?.metadata?.resourceVersion === 'string')
            resourceVersion = page.metadata.resourceVersion;
          const next = page?.metadata?.continue;
          cont = typeof next === 'string' && next !== '' ? next : undefined;
        } while (cont !== undefined);
        return { items, resourceVersion };
      },
      watch: async (resourceVersion, timeoutSeconds, onEvent, onDone): Promise<WatchHandle> => {
        const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, timeoutSeconds };
        if (resourceVersion !== '') query['resourceVersion'] = resourceVersion;
        return watchStream(
          ep,
          path,
          query,
          (type, obj) => onEvent(type, WATCH_EVENTS.has(type) ? trim(obj) : obj),
          onDone,
        );
      },
    };
  }
}
