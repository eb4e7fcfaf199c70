/**
 * Which proxies to scrape: running pods found through the Kubernetes API (client-node) by label,
 * turned into stats URLs on the pod IP. No exec, no port-forward: only `list pods` is needed.
 *
 *  - sidecars:  `security.istio.io/tlsMode` (Envoy, :15090/stats/prometheus)
 *  - waypoints: `gateway.istio.io/managed`   (Envoy, :15090/stats/prometheus, reporter="waypoint")
 *  - ztunnel:   `app=ztunnel`                (:15020/stats/prometheus, L4 TCP metrics), cluster-wide
 *
 * `prometheus.io/port` and `prometheus.io/path` annotations override port and path per pod.
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { CallmapError } from '../../mapper/contract/index.ts';

export const TARGET_KINDS = ['sidecar', 'waypoint', 'ztunnel'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const DISCOVERY_SKIPS = ['not-running', 'no-pod-ip', 'no-proxy-container'] as const;
export type DiscoverySkip = (typeof DISCOVERY_SKIPS)[number];

export const SELECTORS: Readonly<Record<TargetKind, string>> = {
  sidecar: 'security.istio.io/tlsMode',
  waypoint: 'gateway.istio.io/managed',
  ztunnel: 'app=ztunnel',
};

const DEFAULT_PORT: Readonly<Record<TargetKind, number>> = { sidecar: 15090, waypoint: 15090, ztunnel: 15020 };
const DEFAULT_PATH = '/stats/prometheus';
const PROXY_CONTAINER = 'istio-proxy';

export interface ScrapeTarget {
  /** State key: namespace/name/uid/proxy restarts, so a restarted proxy starts with fresh counters. */
  id: string;
  pod: { name: string; namespace: string };
  kind: TargetKind;
  url: string;
}

export type PodVerdict = { ok: true; target: ScrapeTarget } | { ok: false; reason: DiscoverySkip };

/** Pure: what to scrape for one pod, or why not. */
export function podTarget(pod: V1Pod, kind: TargetKind): PodVerdict {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return { ok: false, reason: 'not-running' };
  const ip = pod.status?.podIP;
  if (!ip) return { ok: false, reason: 'no-pod-ip' };
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  if (kind === 'sidecar' && !containers.some((c) => c.name === PROXY_CONTAINER)) {
    return { ok: false, reason: 'no-proxy-container' };
  }
  const ann = pod.metadata?.annotations ?? {};
  const portAnn = Number(ann['prometheus.io/port']);
  const port = Number.isInteger(portAnn) && portAnn > 0 && portAnn < 65536 ? portAnn : DEFAULT_PORT[kind];
  const pathAnn = ann['prometheus.io/path'];
  const path = pathAnn?.startsWith('/') ? pathAnn : DEFAULT_PATH;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const restarts = statuses.find((s) => s.name === PROXY_CONTAINER)?.restartCount ?? statuses[0]?.restartCount ?? 0;
  return {
    ok: true,
    target: {
      id: `${namespace}/${name}/${pod.metadata?.uid ?? ''}/${restarts}`,
      pod: { name, namespace },
      kind,
      url: `http://${host}:${port}${path}`,
    },
  };
}

/** Classifies a pod found by any selector (a waypoint also carries tlsMode, ztunnel may too). */
export function kindOf(pod: V1Pod, foundAs: TargetKind): TargetKind {
  const labels = pod.metadata?.labels ?? {};
  if (labels['app'] === 'ztunnel') return 'ztunnel';
  if (labels['gateway.istio.io/managed'] !== undefined) return 'waypoint';
  return foundAs;
}

/** Seam over the Kubernetes API. `namespace` undefined = all namespaces. */
export interface PodLister {
  list(namespace: string | undefined, labelSelector: string, signal?: AbortSignal): Promise<V1Pod[]>;
}

export function kubeError(e: unknown, server: string): CallmapError {
  const name = (e as { name?: unknown })?.name;
  if (name === 'AbortError' || name === 'TimeoutError') {
    // DOMException carries a numeric `code` (20/23) that is not an HTTP status.
    return new CallmapError(
      'KUBE_ABORTED',
      `listing pods at ${server} was cancelled (shutting down or tick deadline)`,
      {
        status: 503,
        cause: e,
      },
    );
  }
  const status = (e as { code?: unknown })?.code;
  if (typeof status === 'number' && status >= 100 && status <= 599) {
    const hint =
      status === 401 || status === 403
        ? 'grant the watcher `list` on `pods` (cluster-wide, or in each --namespace)'
        : 'check the API server and the kubeconfig';
    return new CallmapError('KUBE_API_ERROR', `Kubernetes API at ${server} answered ${status} listing pods; ${hint}`, {
      status: 502,
      cause: e,
    });
  }
  const why = (e as { code?: string })?.code ?? (e as Error)?.message ?? String(e);
  return new CallmapError(
    'KUBE_UNREACHABLE',
    `cannot reach the Kubernetes API at ${server} (${why}); check --kubeconfig / KUBECONFIG or run inside the cluster`,
    { status: 503, cause: e },
  );
}

/** Settles with `p`, or rejects when `signal` aborts first (the request itself is left to finish). */
function raced<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The real lister: client-node CoreV1Api with pagination and a deadline per call (a hung API
 * server must not hang the tick); every failure is a CallmapError.
 */
export function kubePodLister(kc: KubeConfig, opts: { timeoutMs?: number } = {}): PodLister {
  const api = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)';
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return {
    async list(namespace, labelSelector, signal) {
      const pods: V1Pod[] = [];
      let cont: string | undefined;
      const deadline = AbortSignal.timeout(timeoutMs);
      const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
      try {
        do {
          const call =
            namespace === undefined
              ? api.listPodForAllNamespaces({ labelSelector, limit: 500, _continue: cont })
              : api.listNamespacedPod({ namespace, labelSelector, limit: 500, _continue: cont });
          const page = await raced(call, stop);
          pods.push(...page.items);
          cont = page.metadata?._continue || undefined;
        } while (cont);
      } catch (e) {
        if (deadline.aborted && !signal?.aborted) {
          throw new CallmapError(
            'KUBE_TIMEOUT',
            `the Kubernetes API at ${server} did not answer a pod list within ${timeoutMs} ms; check the API server`,
            { status: 504, cause: e },
          );
        }
        throw kubeError(e, server);
      }
      return pods;
    },
  };
}

export interface Discovery {
  targets: ScrapeTarget[];
  skipped: Record<DiscoverySkip, number>;
}

/**
 * Lists sidecars and waypoints in `namespaces` (all when empty) and ztunnel pods cluster-wide
 * (ztunnel serves every namespace of its node; its series are filtered by namespace later).
 */
export async function discoverTargets(
  lister: PodLister,
  namespaces: readonly string[],
  signal?: AbortSignal,
): Promise<Discovery> {
  const scopes: Array<string | undefined> = namespaces.length === 0 ? [undefined] : [...namespaces];
  const queries: Array<{ ns: string | undefined; kind: TargetKind }> = [];
  for (const ns of scopes) queries.push({ ns, kind: 'sidecar' }, { ns, kind: 'waypoint' });
  queries.push({ ns: undefined, kind: 'ztunnel' });
  const results = await Promise.all(queries.map((q) => lister.list(q.ns, SELECTORS[q.kind], signal)));
  const seen = new Set<string>();
  const out: Discovery = { targets: [], skipped: { 'not-running': 0, 'no-pod-ip': 0, 'no-proxy-container': 0 } };
  results.forEach((pods, i) => {
    const q = queries[i] as { kind: TargetKind };
    for (const pod of pods) {
      const key = pod.metadata?.uid || `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const v = podTarget(pod, kindOf(pod, q.kind));
      if (v.ok) out.targets.push(v.target);
      else out.skipped[v.reason]++;
    }
  });
  return out;
}
