/**
 * Types of snapshot reports: a snapshot freezes the map (intents with ports, HTTP paths/methods,
 * Kafka topics/operations including denied ones, external destinations) at one moment; a diff
 * compares two snapshots. These shapes go over the wire (REST API, report JSON).
 */
import type { Intent, WorkloadIdentity, WorkloadRef } from '../contract/index.ts';

export const SNAPSHOT_TRIGGERS = ['api', 'schedule'] as const;
export type SnapshotTrigger = (typeof SNAPSHOT_TRIGGERS)[number];

/** A Kafka authorizer decision on a non-Topic resource (Group, Cluster, ...), as frozen in a snapshot. */
export interface SnapshotAclEntry {
  client: WorkloadRef;
  server: WorkloadRef;
  resourceType: string;
  resourceName: string;
  operation: string;
  allowed: boolean;
}

/** What a snapshot freezes. */
export interface SnapshotBody {
  /** Every edge (external destinations included), sorted like `GET /api/v1/intents`. */
  intents: Intent[];
  /** Non-Topic Kafka decisions (Topic decisions are in `intents[].kafka`). */
  kafkaAcl: SnapshotAclEntry[];
}

export interface SnapshotTotals {
  /** Client → server/external edges. */
  edges: number;
  /** Distinct workloads appearing as client or server. */
  workloads: number;
  /** Distinct (edge, path) pairs. */
  httpPaths: number;
  /** Distinct (edge, topic) pairs. */
  kafkaTopics: number;
  /** Denied Kafka (edge, resource, operation) decisions, topics and other resources. */
  deniedKafka: number;
  /** Distinct external domains. */
  externals: number;
}

export interface NamespaceTotals extends SnapshotTotals {
  /** Client namespace. */
  namespace: string;
}

export interface SnapshotSummary {
  totals: SnapshotTotals;
  /** Per client namespace, sorted by name. */
  namespaces: NamespaceTotals[];
}

/** A snapshot without its body (what the list endpoint returns). */
export interface SnapshotMeta {
  id: number;
  /** ms since the epoch. */
  takenAt: number;
  /** Client namespaces the snapshot is limited to; empty: all. Sorted. */
  namespaces: string[];
  trigger: SnapshotTrigger;
  /** The map's change counter when the snapshot was taken. */
  mapVersion: number;
  totals: SnapshotTotals;
}

export interface Snapshot extends SnapshotMeta, SnapshotBody {}

/** Identifies an edge in diff items. Exactly one of `server` and `external` is set. */
export interface EdgeRef {
  client: WorkloadIdentity;
  server?: WorkloadIdentity;
  /** External domain. */
  external?: string;
}

export interface EdgeChange extends EdgeRef {
  ports: number[];
}

export interface PortChange extends EdgeRef {
  ports: number[];
}

export interface HttpChange extends EdgeRef {
  path: string;
  /** The methods that are new (or removed) on this path; empty when the path itself is new/removed without recorded methods. */
  methods: string[];
  /** True when the whole path is new (or removed), not just some methods. */
  wholePath: boolean;
}

export interface KafkaChange extends EdgeRef {
  topic: string;
  /** Allowed operations that are new (or removed). */
  operations: string[];
}

export interface DeniedChange extends EdgeRef {
  resourceType: string;
  resourceName: string;
  /** Operations the broker denied that the previous snapshot had not seen denied. */
  operations: string[];
}

export interface ExternalChange {
  domain: string;
  ips: string[];
  /** Clients that reach it. */
  clients: WorkloadRef[];
}

export interface DiffTotals {
  newEdges: number;
  vanishedEdges: number;
  newPorts: number;
  newHttp: number;
  removedHttp: number;
  newKafka: number;
  removedKafka: number;
  newDeniedKafka: number;
  newExternals: number;
}

export interface NamespaceDiffTotals extends DiffTotals {
  /** Client namespace. */
  namespace: string;
}

export interface SnapshotDiff {
  /** The older side; null when there is no previous snapshot (everything counts as new). */
  from: SnapshotMeta | null;
  to: SnapshotMeta;
  totals: DiffTotals;
  /** Per client namespace that has at least one change, sorted by name. */
  namespaces: NamespaceDiffTotals[];
  newEdges: EdgeChange[];
  vanishedEdges: EdgeChange[];
  newPorts: PortChange[];
  newHttp: HttpChange[];
  removedHttp: HttpChange[];
  newKafka: KafkaChange[];
  removedKafka: KafkaChange[];
  newDeniedKafka: DeniedChange[];
  newExternals: ExternalChange[];
}
