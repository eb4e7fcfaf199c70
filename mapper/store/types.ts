/** Types of the durable map: what the ingest pipeline writes and what the query side reads. */
import type { KafkaOperation, WorkloadIdentity, WorkloadRef } from '../contract/index.ts';

export interface HttpPair {
  /** Upper-case method, or '' when the reporter did not record it. */
  method: string;
  path: string;
}

export interface KafkaAccess {
  topic: string;
  operation: KafkaOperation;
  allowed: boolean;
}

/** Aggregated change to one edge, produced by the ingest pipeline for one batch. */
export interface EdgeDelta {
  /** `edgeKey(client, server, via, extDomain)` when the producer already has it (saves rebuilding it). */
  key?: string;
  client: WorkloadIdentity;
  /** Exactly one of `server` and `extDomain` is set. */
  server?: WorkloadIdentity;
  via?: WorkloadRef;
  extDomain?: string;
  ports: number[];
  http: HttpPair[];
  kafka: KafkaAccess[];
  extIps: string[];
  firstSeen: number;
  lastSeen: number;
  count: number;
}

/** A Kafka authorizer decision on a non-Topic resource (Group, Cluster, ...). */
export interface KafkaAclRecord {
  client: WorkloadRef;
  server: WorkloadRef;
  resourceType: string;
  resourceName: string;
  patternType: string;
  operation: string;
  allowed: boolean;
  principal: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export interface DnsAnswer {
  ip: string;
  domain: string;
  /** ms since epoch, in observation time. */
  expiresAt: number;
}

export interface BatchDelta {
  edges: EdgeDelta[];
  acl: KafkaAclRecord[];
  dnsAnswers: DnsAnswer[];
  /** Observations of stored edges taken by the ingest fast path (ADR 0101); absent: none. */
  known?: KnownRows;
}

/**
 * Observations of known edges (ADR 0101), `KNOWN_COLS` numbers each in `rows`: edge id (-1: row
 * withdrawn, skip it), time, count, port (-1: none; always one of the edge's ports), and the
 * pipeline's own sequence number. The same edge may appear many times; the store folds them. Taken in `epoch`: the ids are meaningless in another one.
 */
export interface KnownRows {
  epoch: number;
  n: number;
  rows: Float64Array;
}

export const KNOWN_COLS = 5;

/** One edge as held in memory (mirror of the `edges` table and its detail tables). */
export interface EdgeRecord {
  readonly id: number;
  readonly key: string;
  readonly client: WorkloadRef;
  readonly server: WorkloadRef | undefined;
  readonly via: WorkloadRef | undefined;
  readonly extDomain: string | undefined;
  /** Sorted. */
  ports: number[];
  /** key `${method} ${path}`; absent until the edge has HTTP details (saves memory). */
  http: Map<string, HttpPair> | undefined;
  /** key `${topic}\u0000${operation}\u0000${allowed}`; absent until the edge has Kafka details. */
  kafka: Map<string, KafkaAccess> | undefined;
  extIps: string[] | undefined;
  firstSeen: number;
  lastSeen: number;
  count: number;
  /** Bumped on every change of this edge (lets readers cache what they derive from it). */
  rev: number;
  /**
   * Reader cache (mapper/store/intents.ts): where this edge's intent JSON sits in the last full
   * intents response body (generation `jsonGen`, byte offset `jsonAt`, `jsonLen` bytes), valid
   * while `jsonRev === rev` and `jsonIdv` equals the store's `identityVersion`. The next response
   * copies those bytes instead of re-serialising; nothing but the body itself is kept.
   */
  jsonGen: number;
  jsonAt: number;
  jsonLen: number;
  jsonRev: number;
  jsonIdv: number;
  /**
   * The same for the last full compact body (`?compact=true`, ADR 0036): valid while
   * `compactRev === rev` and the store's `structureVersion` is the one that body was built at
   * (identity indexes depend only on which edges exist and their order).
   */
  compactGen: number;
  compactAt: number;
  compactLen: number;
  compactRev: number;
  /**
   * Inside those bytes (relative to `compactAt`): the end of the client index, and the start of
   * `,"server":M` and its end (-1: no server). `compactClientEnd` is -1 when the intent was not
   * written as a plain edge. The full shape and the graphs are written from these bytes with the
   * identities spliced in or left out (ADR 0038).
   */
  compactClientEnd: number;
  compactServerAt: number;
  compactServerEnd: number;
}

export interface ApplyResult {
  duplicate: boolean;
  /** Accepted observation count recorded for this batch id (the original one for a duplicate). */
  accepted: number;
}

export type ChangeListener = (change: { version: number; edges: number }) => void;

/** The store API other mapper parts (API, snapshots) use. */
export interface MapStore {
  readonly path: string;
  /** Monotonic change counter; increases after every committed change (ingest, reset). */
  readonly version: number;
  /** Increases when edges are added or removed (not when they only change): orderings stay valid. */
  readonly structureVersion: number;
  /** Increases when a known workload's kind or labels change (not when a new workload appears). */
  readonly identityVersion: number;
  /** Number of edges in the map. */
  readonly edgeCount: number;
  /** Changes when edge ids stop meaning what they meant (open, reset): see `KnownRows`. */
  readonly epoch: number;
  /** Ingest fast path (ADR 0101): the committed edge with this key. */
  knownEdge(key: string): EdgeRecord | undefined;
  /** True while `rec` is this store's record of its edge (not after a reset, not another store's). */
  holdsEdge(rec: EdgeRecord): boolean;
  /**
   * True when this identity object is known to equal the stored identity of its workload (so an
   * edge delta with it would write no workload row). Objects are treated as immutable.
   */
  identityCurrent(w: WorkloadIdentity): boolean;
  isOpen(): boolean;
  /** The receipt of an already-accepted batch id, if it is remembered. */
  acceptedBatch(batchId: string): ApplyResult | undefined;
  /**
   * Applies one batch in a single transaction. Returns `duplicate: true` (and changes nothing)
   * when the batch id was accepted before. Returns only after the commit.
   */
  apply(batchId: string, accepted: number, delta: BatchDelta, now: number): ApplyResult;
  /**
   * Group commit: records every batch id and applies their merged delta in one transaction.
   * The caller has checked that no id was accepted before; if one was, nothing is written and
   * a CallmapError BATCH_ALREADY_APPLIED is thrown.
   */
  applyGroup(batches: ReadonlyArray<{ batchId: string; accepted: number }>, delta: BatchDelta, now: number): void;
  /**
   * The same, asynchronously (ADR 0100): resolves after the commit and the mirror update, rejects
   * (nothing written, mirror unchanged) like `applyGroup` throws. Groups commit in call order; a
   * group is planned against the mirror only once the one before it has committed.
   */
  applyGroupAsync(
    batches: ReadonlyArray<{ batchId: string; accepted: number }>,
    delta: BatchDelta,
    now: number,
  ): Promise<void>;
  /** The in-memory edges (do not mutate). */
  edges(): Iterable<EdgeRecord>;
  workload(ref: WorkloadRef): WorkloadIdentity | undefined;
  kafkaAcl(): KafkaAclRecord[];
  /** Unexpired external DNS answers (for warming the ingest cache at start-up). */
  dnsAnswers(now: number): DnsAnswer[];
  /** Clears the map; returns how many entries (edges + Kafka ACL records) were removed. */
  reset(): number;
  onChange(listener: ChangeListener): () => void;
  close(): void;
}

export const workloadKey = (w: WorkloadRef): string => `${w.namespace}/${w.name}`;

export function edgeKey(client: WorkloadRef, server?: WorkloadRef, via?: WorkloadRef, extDomain?: string): string {
  const c = `${client.namespace}/${client.name}`;
  if (extDomain !== undefined) return `${c}>ext:${extDomain}`;
  const s = server ? `${server.namespace}/${server.name}` : '';
  return via ? `${c}>${s}|${via.namespace}/${via.name}` : `${c}>${s}`;
}
