/**
 * The synthetic map both mapper benchmarks use: 10,000 workloads, each client calling 10 servers
 * (100,000 distinct edges), as `tcp` observations. Resolved either by a static table (a test
 * helper) or by the mapper's own resolver (`KubeResolver` over a `ClusterState` holding the same
 * workloads as Deployment → ReplicaSet → Pod objects, what `callmap mapper` resolves with).
 */
import type { Observation } from '../../mapper/contract/index.ts';
import type { KubeResolver } from '../../mapper/k8s/resolver.ts';
import { StaticResolver } from '../../test/helpers/static-resolver.ts';

export const WORKLOADS = 10_000;
export const EDGES_PER_CLIENT = 10;
export const BATCH = 1_000;
export const T0 = 1_750_000_000_000;

export const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

export function syntheticResolver(): StaticResolver {
  const ips: Record<string, { name: string; namespace: string; kind: string; labels: Record<string, string> }> = {};
  for (let i = 0; i < WORKLOADS; i++) {
    ips[ipOf(i)] = {
      name: `w-${i % 100}`,
      namespace: `ns-${Math.floor(i / 100)}`,
      kind: 'Deployment',
      labels: { app: `w-${i}` },
    };
  }
  return new StaticResolver({ ips });
}

/**
 * The product's resolver over the same 10,000 workloads: workload i is Deployment `w-(i mod 100)`
 * in `ns-(i / 100)` with label `app=w-i`, its ReplicaSet, and one running pod holding `ipOf(i)`
 * since before T0 — the identities `syntheticResolver()` answers, through informer-shaped objects.
 * Imported lazily: the resolver module loads the Kubernetes client (≈ 25 MB of heap), which a
 * benchmark using the static table should not count.
 */
export async function syntheticKubeResolver(): Promise<KubeResolver> {
  const { ClusterState } = await import('../../mapper/k8s/cluster-state.ts');
  const { KubeResolver } = await import('../../mapper/k8s/resolver.ts');
  const state = new ClusterState();
  const created = new Date(T0 - 3_600_000).toISOString();
  const deployments: unknown[] = [];
  const replicaSets: unknown[] = [];
  const pods: unknown[] = [];
  for (let i = 0; i < WORKLOADS; i++) {
    const namespace = `ns-${Math.floor(i / 100)}`;
    const name = `w-${i % 100}`;
    const meta = (n: string, uid: string, owner?: { kind: string; name: string }) => ({
      name: n,
      namespace,
      uid,
      creationTimestamp: created,
      labels: { app: `w-${i}` },
      ...(owner
        ? { ownerReferences: [{ apiVersion: 'apps/v1', ...owner, uid: `${uid}-owner`, controller: true }] }
        : {}),
    });
    deployments.push({ metadata: meta(name, `d-${i}`) });
    replicaSets.push({ metadata: meta(`${name}-5d8f9c`, `rs-${i}`, { kind: 'Deployment', name }) });
    pods.push({
      metadata: meta(`${name}-5d8f9c-x${i}`, `p-${i}`, { kind: 'ReplicaSet', name: `${name}-5d8f9c` }),
      spec: { nodeName: `node-${i % 16}` },
      status: { phase: 'Running', podIP: ipOf(i), podIPs: [{ ip: ipOf(i) }] },
    });
  }
  const now = T0 - 60_000;
  state.replace('Deployment', deployments, now);
  state.replace('ReplicaSet', replicaSets, now);
  state.replace('Pod', pods, now);
  return new KubeResolver(state);
}

/** Observation n of the run: client n/10 mod 10k, its (n mod 10)-th server. */
export function observation(n: number): Observation {
  const client = Math.floor(n / EDGES_PER_CLIENT) % WORKLOADS;
  const k = n % EDGES_PER_CLIENT;
  const server = (client + 1 + k * 997) % WORKLOADS;
  return {
    kind: 'tcp',
    clientIp: ipOf(client),
    serverIp: ipOf(server),
    serverPort: 8000 + k,
    source: 'capture',
    time: T0 + n,
  };
}
