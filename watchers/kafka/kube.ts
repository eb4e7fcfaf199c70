/**
 * Kubernetes access for the Kafka watcher, behind a small seam (`KubeAccess`) so the followers
 * never touch client-node directly. Pods are read with CoreV1Api; logs are streamed with a raw
 * request authenticated by the same KubeConfig (client-node's `Log` class pipes the body without
 * surfacing a cut connection, which the follower must see to resume).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { CallmapError } from '../../mapper/contract/index.ts';

export interface PodInfo {
  name: string;
  namespace: string;
  uid: string;
  containers: string[];
  /** restartCount per container name (absent when the pod has no status yet). */
  restarts: Record<string, number>;
  /** Label map (selector mode). */
  labels: Record<string, string>;
}

export interface LogParams {
  container: string;
  follow: boolean;
  /** RFC3339 (seconds precision is enough; lines at the boundary are de-duplicated). */
  sinceTime?: string;
}

export interface LogStream {
  /** The response body: emits Buffers, then 'end' (clean end) or 'error'/'close' (cut). */
  body: IncomingMessage;
  /** Aborts the request (used on shutdown and on pod change). */
  abort(): void;
}

export interface KubeAccess {
  /** The pod, or undefined when it does not exist (404). Rejects on any other failure. */
  getPod(namespace: string, name: string): Promise<PodInfo | undefined>;
  /** Pods matching a label selector; namespace undefined = all namespaces. */
  listPods(namespace: string | undefined, labelSelector: string): Promise<PodInfo[]>;
  openLog(namespace: string, name: string, params: LogParams, signal: AbortSignal): Promise<LogStream>;
}

export const KUBE_ERROR_CODES = {
  unreachable: 'KAFKA_KUBE_UNREACHABLE',
  kubeconfig: 'KAFKA_KUBECONFIG',
  logRequest: 'KAFKA_LOG_REQUEST',
} as const;

export function podInfo(p: V1Pod): PodInfo {
  const restarts: Record<string, number> = {};
  for (const s of p.status?.containerStatuses ?? []) restarts[s.name] = s.restartCount ?? 0;
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    uid: p.metadata?.uid ?? '',
    containers: (p.spec?.containers ?? []).map((c) => c.name),
    restarts,
    labels: { ...(p.metadata?.labels ?? {}) },
  };
}

const statusOf = (e: unknown): number | undefined => {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
};

/** Short description of a failed Kubernetes call for log lines and errors. */
export function describeKubeError(e: unknown): string {
  const status = statusOf(e);
  if (status !== undefined) return `HTTP ${status}`;
  const cause = (e as { cause?: { code?: string } })?.cause?.code;
  const code = (e as { code?: string })?.code;
  return String(cause ?? code ?? (e as Error)?.message ?? e);
}

export function kubeAccess(kc: KubeConfig): KubeAccess {
  const core = kc.makeApiClient(CoreV1Api);
  const server = (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  return {
    async getPod(namespace, name) {
      try {
        return podInfo(await core.readNamespacedPod({ name, namespace }));
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw e;
      }
    },
    async listPods(namespace, labelSelector) {
      const list =
        namespace === undefined
          ? await core.listPodForAllNamespaces({ labelSelector })
          : await core.listNamespacedPod({ namespace, labelSelector });
      return list.items.map(podInfo);
    },
    async openLog(namespace, name, params, signal) {
      const url = new URL(
        `${server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`,
      );
      url.searchParams.set('container', params.container);
      url.searchParams.set('follow', String(params.follow));
      url.searchParams.set('timestamps', 'true');
      if (params.sinceTime !== undefined) url.searchParams.set('sinceTime', params.sinceTime);
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const doRequest = url.protocol === 'http:' ? httpRequest : httpsRequest;
      return new Promise<LogStream>((resolve, reject) => {
        const req = doRequest(url, { ...opts, method: 'GET', signal }, (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => {
              if (chunks.length < 16) chunks.push(c);
            });
            res.on('end', () =>
              reject(
                new CallmapError(
                  KUBE_ERROR_CODES.logRequest,
                  `log request for pod ${name}.${namespace} failed with HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`,
                  { details: { status: res.statusCode } },
                ),
              ),
            );
            res.on('error', reject);
            return;
          }
          resolve({ body: res, abort: () => req.destroy() });
        });
        req.on('error', reject);
        req.end();
      });
    },
  };
}
