/**
 * A small, real in-memory Resolver for tests: tables of IP → workload and DNS name → workload.
 * Optional validity windows model IP reuse (a pod that owns an IP only between two times).
 */
import type { WorkloadIdentity, WorkloadRef } from '../../mapper/contract/index.ts';
import type { Resolution, Resolver, UnresolvedReason } from '../../mapper/k8s/types.ts';

export interface StaticEntry {
  workload: WorkloadIdentity;
  service?: WorkloadRef;
  pod?: WorkloadRef;
  /** Owned the address from this time (ms) ... */
  from?: number;
  /** ... until this time (ms). */
  until?: number;
}

export interface StaticResolverTables {
  ips?: Record<string, StaticEntry | WorkloadIdentity>;
  /** Fully qualified cluster names, e.g. `server.prod.svc.cluster.local` (also matched as `server.prod`). */
  names?: Record<string, StaticEntry | WorkloadIdentity>;
  /** Pods by `namespace/name`. */
  pods?: Record<string, WorkloadIdentity>;
  /** Known workloads by `namespace/name` (for resolveWorkloadName). */
  workloads?: Record<string, WorkloadIdentity>;
  /** IPs that belong to nodes (host-network traffic). */
  nodeIps?: string[];
  clusterDomain?: string;
  ready?: boolean;
}

const isEntry = (v: StaticEntry | WorkloadIdentity): v is StaticEntry => 'workload' in v;
const entry = (v: StaticEntry | WorkloadIdentity): StaticEntry => (isEntry(v) ? v : { workload: v });

export class StaticResolver implements Resolver {
  readonly tables: StaticResolverTables;
  readonly calls = { resolveIp: 0, resolveDnsName: 0, resolvePod: 0, resolveWorkloadName: 0 };
  readyFlag: boolean;

  constructor(tables: StaticResolverTables) {
    this.tables = tables;
    this.readyFlag = tables.ready ?? true;
  }

  #hits = new WeakMap<object, Resolution>();

  private found(e: StaticEntry, at: number, key: object = e): Resolution {
    if ((e.from !== undefined && at < e.from) || (e.until !== undefined && at > e.until)) {
      return { ok: false, reason: 'not-alive-at-time' };
    }
    const cached = this.#hits.get(key);
    if (cached) return cached;
    const r: Resolution = { ok: true, workload: e.workload };
    if (e.service) r.service = e.service;
    if (e.pod) r.pod = e.pod;
    this.#hits.set(key, r);
    return r;
  }

  private miss(reason: UnresolvedReason): Resolution {
    return { ok: false, reason };
  }

  resolveIp(ip: string, at: number): Resolution {
    this.calls.resolveIp++;
    if (this.tables.nodeIps?.includes(ip)) return this.miss('host-network');
    const v = this.tables.ips?.[ip];
    return v === undefined ? this.miss('unknown-ip') : this.found(entry(v), at, v);
  }

  resolveDnsName(name: string, _ips: readonly string[], at: number, clientNamespace?: string): Resolution {
    this.calls.resolveDnsName++;
    const domain = this.tables.clusterDomain ?? 'cluster.local';
    const names = this.tables.names ?? {};
    const candidates = [name, `${name}.svc.${domain}`];
    if (clientNamespace && !name.includes('.')) candidates.push(`${name}.${clientNamespace}.svc.${domain}`);
    for (const c of candidates) {
      const v = names[c];
      if (v !== undefined) return this.found(entry(v), at, v);
    }
    return this.miss('unknown-name');
  }

  isClusterName(name: string): boolean {
    const domain = this.tables.clusterDomain ?? 'cluster.local';
    if (name === domain || name.endsWith(`.${domain}`)) return true;
    const names = this.tables.names ?? {};
    return name in names || `${name}.svc.${domain}` in names || !name.includes('.');
  }

  resolvePod(pod: WorkloadRef, at: number): Resolution {
    this.calls.resolvePod++;
    const w = this.tables.pods?.[`${pod.namespace}/${pod.name}`];
    return w === undefined ? this.miss('unknown-pod') : this.found({ workload: w, pod }, at);
  }

  resolveWorkloadName(ref: WorkloadRef): WorkloadIdentity {
    this.calls.resolveWorkloadName++;
    return (
      this.tables.workloads?.[`${ref.namespace}/${ref.name}`] ?? {
        name: ref.name,
        namespace: ref.namespace,
        kind: 'Unknown',
      }
    );
  }

  ready(): boolean {
    return this.readyFlag;
  }
}
