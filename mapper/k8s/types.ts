/**
 * Seam between identity resolution (mapper/k8s, fed by informers) and the ingest pipeline
 * (mapper/ingest, mapper/store). The ingest side depends only on this interface, so it can be
 * tested with any implementation; the real one is built from Kubernetes informers.
 */
import type { WorkloadIdentity, WorkloadRef } from '../contract/index.ts';

export const UNRESOLVED_REASONS = [
  /** No pod, service or node ever had this IP in the window we remember. */
  'unknown-ip',
  /** The IP belongs to a node; traffic from hostNetwork pods cannot be attributed to one pod. */
  'host-network',
  /** A pod had this IP, but not at the observation time (created after it / deleted before it). */
  'not-alive-at-time',
  /** Several candidates match and none can be preferred. */
  'ambiguous',
  /** A cluster DNS name that names no known service or pod. */
  'unknown-name',
  /** The pod named by a watcher does not exist (yet). */
  'unknown-pod',
] as const;
export type UnresolvedReason = (typeof UNRESOLVED_REASONS)[number];

export type Resolution =
  | {
      ok: true;
      workload: WorkloadIdentity;
      /** The concrete pod, when resolution went through one. */
      pod?: WorkloadRef;
      /** The Kubernetes Service the address or name belongs to (ClusterIP or DNS name of a service). */
      service?: WorkloadRef;
    }
  | { ok: false; reason: UnresolvedReason };

export interface Resolver {
  /** A pod IP (status.podIP / podIPs) or a Service ClusterIP, as it was at time `at` (ms). */
  resolveIp(ip: string, at: number): Resolution;
  /**
   * An in-cluster DNS name: `svc.ns.svc.<domain>`, `svc.ns`, `pod-ip-dashed.ns.pod.<domain>`,
   * headless `pod.svc.ns.svc.<domain>`. `ips` is what the DNS answer carried (used to pick the pod
   * behind a headless service). Short names (`svc`) are resolved relative to `clientNamespace`.
   */
  resolveDnsName(name: string, ips: readonly string[], at: number, clientNamespace?: string): Resolution;
  /** True when `name` is inside the cluster domain (so it is never an external destination). */
  isClusterName(name: string): boolean;
  /** A pod by name (e.g. the Kafka broker whose log we read) → its workload. */
  resolvePod(pod: WorkloadRef, at: number): Resolution;
  /**
   * A workload named by Istio (`destination_workload` is the root owner name, kind unknown) →
   * full identity with kind and labels when the cluster knows it; otherwise kind `Unknown`.
   */
  resolveWorkloadName(ref: WorkloadRef): WorkloadIdentity;
  /** True once every informer has completed its initial list. */
  ready(): boolean;
}

/** Counters every Resolver implementation can expose (the Kubernetes one does, via `stats()`). */
export interface ResolverStats {
  /** Calls that produced an identity. */
  resolved: number;
  /** Calls that did not, by reason (never guessed). */
  unresolved: Record<UnresolvedReason, number>;
}
