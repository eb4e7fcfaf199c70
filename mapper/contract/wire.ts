/**
 * Wire contract: every type that crosses a process boundary (sniffer/watchers → mapper,
 * mapper → CLI/web). Dependency-free on purpose: every component imports it, nothing else.
 *
 * Times are milliseconds since the Unix epoch (UTC).
 */

/** A workload as named by the mapper: the root owner of a pod (or the pod itself). */
export interface WorkloadRef {
  name: string;
  namespace: string;
}

export interface WorkloadIdentity extends WorkloadRef {
  /** Kubernetes kind of the root owner: Deployment, StatefulSet, DaemonSet, CronJob, Job, Pod, Service, … */
  kind: string;
  labels?: Record<string, string>;
}

export const REPORTER_COMPONENTS = ['sniffer', 'istio-watcher', 'kafka-watcher', 'demo'] as const;
export type ReporterComponent = (typeof REPORTER_COMPONENTS)[number];

export interface ReporterIdentity {
  component: ReporterComponent;
  /** Node name for a sniffer, pod/host name for a watcher. */
  instance: string;
  version?: string;
}

/** A DNS response seen by the sniffer: `clientIp` asked for `name` and got `ips`. */
export interface DnsObservation {
  kind: 'dns';
  clientIp: string;
  /** The name the client asked for (first question), lower-case, without the trailing dot. */
  name: string;
  /** Final A/AAAA addresses after following CNAMEs. May be empty (NXDOMAIN-free empty answer). */
  ips: string[];
  /** Smallest TTL in the answer chain, seconds. */
  ttl?: number;
  time: number;
  /** How many times this (client, name) pair was seen since the last report. Defaults to 1. */
  count?: number;
}

export const TCP_SOURCES = ['capture', 'socket-scan'] as const;
export type TcpSource = (typeof TCP_SOURCES)[number];

/** A TCP connection client → server, from a SYN capture or a /proc socket scan. */
export interface TcpObservation {
  kind: 'tcp';
  clientIp: string;
  serverIp: string;
  serverPort: number;
  source: TcpSource;
  time: number;
  count?: number;
}

export const ISTIO_REPORTERS = ['source', 'destination', 'waypoint', 'ztunnel'] as const;
export type IstioReporter = (typeof ISTIO_REPORTERS)[number];

/** An HTTP call between two workloads as seen by an Istio proxy (names come from Istio, not IPs). */
export interface HttpObservation {
  kind: 'http';
  client: WorkloadRef;
  server: WorkloadRef;
  /** Destination Kubernetes Service short name when Istio knows it. */
  serverService?: string;
  /** Upper-case HTTP method, absent when the proxy does not record it. */
  method?: string;
  /** Path without query string; absent when the proxy does not record it. */
  path?: string;
  port?: number;
  reporter?: IstioReporter;
  /** Requests since the previous scrape. */
  count: number;
  time: number;
}

/** An L4 connection between two named workloads (Istio ambient ztunnel). */
export interface WorkloadTcpObservation {
  kind: 'workload-tcp';
  client: WorkloadRef;
  server: WorkloadRef;
  port?: number;
  count: number;
  time: number;
}

export const KAFKA_OPERATIONS = [
  'all',
  'consume',
  'produce',
  'create',
  'alter',
  'delete',
  'describe',
  'ClusterAction',
  'DescribeConfigs',
  'AlterConfigs',
  'IdempotentWrite',
] as const;
/** Operation names exactly as the ClientIntents CRD spells them. */
export type KafkaOperation = (typeof KAFKA_OPERATIONS)[number];

export const KAFKA_RESOURCE_TYPES = [
  'Topic',
  'Group',
  'Cluster',
  'TransactionalId',
  'DelegationToken',
  'User',
] as const;
export type KafkaResourceType = (typeof KAFKA_RESOURCE_TYPES)[number];

export const KAFKA_PATTERN_TYPES = ['LITERAL', 'PREFIXED', 'MATCH', 'ANY'] as const;
export type KafkaPatternType = (typeof KAFKA_PATTERN_TYPES)[number];

/** One authorizer decision read from a Kafka broker's log. */
export interface KafkaObservation {
  kind: 'kafka';
  clientIp: string;
  /** The broker pod whose log carried the line. */
  serverPod: WorkloadRef;
  resourceType: KafkaResourceType;
  resourceName: string;
  patternType: KafkaPatternType;
  operation: KafkaOperation;
  allowed: boolean;
  principal?: string;
  count: number;
  time: number;
}

export type Observation = DnsObservation | TcpObservation | HttpObservation | WorkloadTcpObservation | KafkaObservation;
export type ObservationKind = Observation['kind'];

/** What a reporter POSTs to the mapper's ingest endpoint. */
export interface ReportBatch {
  /** Unique per batch; a retried batch reuses it so the mapper counts it once. `[A-Za-z0-9._:-]{1,128}`. */
  batchId: string;
  reporter: ReporterIdentity;
  /** When the reporter built the batch. */
  sentAt: number;
  observations: Observation[];
}

/** Accepted-batch receipt returned with 202. */
export interface IngestReceipt {
  batchId: string;
  accepted: number;
  /** True when this batchId had already been accepted (nothing was counted again). */
  duplicate: boolean;
}

// ---------------------------------------------------------------------------
// Intent model (mapper → CLI / web / reports)

export interface HttpResource {
  path: string;
  methods: string[];
}

export interface KafkaTopicAccess {
  topic: string;
  /** Operations that were allowed. */
  operations: KafkaOperation[];
  /** Operations the broker denied (kept so users see what a client tried). */
  deniedOperations: KafkaOperation[];
}

export interface ExternalDestination {
  domain: string;
  ips: string[];
}

/**
 * One edge of the map: client workload → server workload (or external domain), with everything
 * known about the calls. Exactly one of `server` and `external` is set.
 */
export interface Intent {
  client: WorkloadIdentity;
  server?: WorkloadIdentity;
  external?: ExternalDestination;
  /** Kubernetes Service the calls went through, when known (for --as-kubernetes-service). */
  viaService?: WorkloadRef;
  ports: number[];
  http: HttpResource[];
  kafka: KafkaTopicAccess[];
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export interface IntentsResponse {
  intents: Intent[];
}

/**
 * An intent whose `client` and `server` are indexes into `CompactIntentsResponse.workloads`
 * (`GET /api/v1/intents?compact=true`): each workload identity is sent once, not once per intent.
 */
export interface CompactIntent extends Omit<Intent, 'client' | 'server'> {
  client: number;
  server?: number;
}

/** Same intents, same order as `IntentsResponse`; `expandIntents` turns it back into one. */
export interface CompactIntentsResponse {
  intents: CompactIntent[];
  /** Every workload the intents name, in order of first appearance. */
  workloads: WorkloadIdentity[];
}

export interface GraphNode {
  id: string;
  workload?: WorkloadIdentity;
  external?: ExternalDestination;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kinds: Array<'l4' | 'http' | 'kafka'>;
  intent: Intent;
}

export interface GraphResponse {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/**
 * The intent of a `CompactGraphEdge`: `client` is left out when it is the source node's workload,
 * `server` when it is the target node's workload (always, from this mapper; kept otherwise).
 */
export interface CompactGraphIntent extends Omit<Intent, 'client' | 'server'> {
  client?: WorkloadIdentity;
  server?: WorkloadIdentity;
}

/** A graph edge whose `source` and `target` are indexes into `nodes`; its `id` is `source->target` of their ids. */
export interface CompactGraphEdge {
  source: number;
  target: number;
  kinds: Array<'l4' | 'http' | 'kafka'>;
  intent: CompactGraphIntent;
}

/**
 * `GET /api/v1/graph?compact=true` (ADR 0038): the same nodes, the same edges in the same order,
 * with each node (and so each workload identity) sent once; `expandGraph` turns it back.
 */
export interface CompactGraphResponse {
  nodes: GraphNode[];
  edges: CompactGraphEdge[];
}

/** JSON body of every non-2xx response from the mapper. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
