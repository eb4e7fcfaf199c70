/**
 * Kubernetes access for identity resolution, through @kubernetes/client-node only: loading a
 * KubeConfig from an explicit source, and one list+watch source per watched kind (typed list calls
 * with paging, `Watch` for the stream), each object trimmed to what its consumer keeps as it
 * arrives (ADR 0046).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  Watch,
} from '@kubernetes/client-node';
import { CallmapError } from '../contract/index.ts';
import type { StateKind } from './cluster-state.ts';
import type { ListResult, ListWatchSource, WatchHandle } from './informer.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Where the Kubernetes credentials come from. Built by the entry point (it may read env), never here. */
export type KubeconfigSource =
  | { kind: 'file'; path: string; context?: string }
  | { kind: 'in-cluster'; host: string; port: string; serviceAccountDir?: string }
  | { kind: 'object'; kubeConfig: KubeConfig };

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

export function loadKubeConfig(source: KubeconfigSource): KubeConfig {
  if (source.kind === 'object') return source.kubeConfig;
  const kc = new KubeConfig();
  try {
    if (source.kind === 'file') {
      kc.loadFromFile(source.path);
      if (source.context !== undefined) kc.setCurrentContext(source.context);
    } else {
      const dir = source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
      const host = source.host.includes(':') ? `[${source.host}]` : source.host;
      kc.loadFromClusterAndUser(
        {
          name: 'in-cluster',
          server: `https://${host}:${source.port}`,
          caFile: join(dir, 'ca.crt'),
          skipTLSVerify: false,
        },
        { name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } },
      );
    }
  } catch (err) {
    const where = source.kind === 'file' ? source.path : 'the in-cluster service account';
    throw new CallmapError(
      'K8S_BAD_KUBECONFIG',
      `Cannot load Kubernetes credentials from ${where}: ${err instanceof Error ? err.message : String(err)}. Check the file or pass another with --kubeconfig.`,
      { cause: err },
    );
  }
  if (kc.getCurrentCluster() === null) {
    throw new CallmapError(
      'K8S_BAD_KUBECONFIG',
      'The kubeconfig has no current cluster: set current-context (or pass --context) to a context whose cluster exists.',
    );
  }
  return kc;
}

interface Apis {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  discovery: DiscoveryV1Api;
}

type Page = KubernetesListObject<KubernetesObject>;
type Lister = (apis: Apis, p: { limit: number; _continue?: string }) => Promise<Page>;

const KINDS: Readonly<Record<StateKind, { path: string; list: Lister }>> = {
  Pod: { path: '/api/v1/pods', list: (a, p) => a.core.listPodForAllNamespaces(p) },
  Service: { path: '/api/v1/services', list: (a, p) => a.core.listServiceForAllNamespaces(p) },
  Endpoints: { path: '/api/v1/endpoints', list: (a, p) => a.core.listEndpointsForAllNamespaces(p) },
  EndpointSlice: {
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    list: (a, p) => a.discovery.listEndpointSliceForAllNamespaces(p),
  },
  Node: { path: '/api/v1/nodes', list: (a, p) => a.core.listNode(p) },
  ReplicaSet: { path: '/apis/apps/v1/replicasets', list: (a, p) => a.apps.listReplicaSetForAllNamespaces(p) },
  Deployment: { path: '/apis/apps/v1/deployments', list: (a, p) => a.apps.listDeploymentForAllNamespaces(p) },
  StatefulSet: { path: '/apis/apps/v1/statefulsets', list: (a, p) => a.apps.listStatefulSetForAllNamespaces(p) },
  DaemonSet: { path: '/apis/apps/v1/daemonsets', list: (a, p) => a.apps.listDaemonSetForAllNamespaces(p) },
  Job: { path: '/apis/batch/v1/jobs', list: (a, p) => a.batch.listJobForAllNamespaces(p) },
  CronJob: { path: '/apis/batch/v1/cronjobs', list: (a, p) => a.batch.listCronJobForAllNamespaces(p) },
};

/** Event types whose object is a watched object (BOOKMARK and ERROR objects pass untouched). */
const WATCH_EVENTS = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** Makes list+watch sources for one cluster. */
export class KubeSources {
  private readonly apis: Apis;
  private readonly watcher: Watch;
  private readonly pageSize: number;

  constructor(kc: KubeConfig, pageSize = 500) {
    this.apis = {
      core: kc.makeApiClient(CoreV1Api),
      apps: kc.makeApiClient(AppsV1Api),
      batch: kc.makeApiClient(BatchV1Api),
      discovery: kc.makeApiClient(DiscoveryV1Api),
    };
    this.watcher = new Watch(kc);
    this.pageSize = pageSize;
  }

  /**
   * List+watch of `kind`. `trim` maps each listed object and each ADDED/MODIFIED/DELETED event
   * object to what the consumer keeps, as it arrives: a list never holds every page's full
   * objects (for 10,000 real pods, tens of MB of typed objects) until the last page is in.
   */
  source(kind: StateKind, trim: (obj: unknown) => unknown = (o) => o): ListWatchSource {
    const def = KINDS[kind];
    return {
      list: async (): Promise<ListResult> => {
        const items: unknown[] = [];
        let cont: string | undefined;
        let resourceVersion = '';
        do {
          const page: Page = await def.list(
            this.apis,
            cont === undefined ? { limit: this.pageSize } : { limit: this.pageSize, _continue: cont },
          );
          for (const item of page.items ?? []) items.push(trim(item));
          if (resourceVersion === '') resourceVersion = page.metadata?.resourceVersion ?? '';
          cont = page.metadata?._continue || undefined;
        } while (cont !== undefined);
        return { items, resourceVersion };
      },
      watch: async (resourceVersion, timeoutSeconds, onEvent, onDone): Promise<WatchHandle> => {
        const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, timeoutSeconds };
        if (resourceVersion !== '') query['resourceVersion'] = resourceVersion;
        const controller = await this.watcher.watch(
          def.path,
          query,
          (type, obj) => onEvent(type, WATCH_EVENTS.has(type) ? trim(obj) : obj),
          onDone,
        );
        return { abort: () => controller.abort() };
      },
    };
  }
}
