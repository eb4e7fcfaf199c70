/**
 * Ingest pipeline: validated observations → resolved, aggregated edge deltas → one store
 * transaction per batch. Resolution goes only through the `Resolver` seam (mapper/k8s/types.ts).
 */
import type {
  DnsObservation,
  HttpObservation,
  IngestReceipt,
  KafkaObservation,
  Observation,
  ObservationKind,
  ReportBatch,
  TcpObservation,
  WorkloadIdentity,
  WorkloadRef,
  WorkloadTcpObservation,
} from '../contract/index.ts';
import type { Resolution, Resolver } from '../k8s/types.ts';
import {
  type BatchDelta,
  type DnsAnswer,
  type EdgeDelta,
  type EdgeRecord,
  edgeKey,
  type KafkaAclRecord,
  KNOWN_COLS,
  type KnownRows,
  type MapStore,
} from '../store/index.ts';

/** Why an observation did not become (part of) an intent, besides the resolver's own reasons. */
export const DROP_REASONS = ['self-call'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Sink for ingest counters (the API wires it to prom-client). */
export interface IngestMetrics {
  observations(kind: ObservationKind, n: number): void;
  unresolved(kind: ObservationKind, reason: string, n: number): void;
  dropped(kind: ObservationKind, reason: DropReason, n: number): void;
}

export interface IngestOptions {
  resolver: Resolver;
  store: MapStore;
  clock?: () => number;
  metrics?: IngestMetrics;
  /** Remembered external DNS answers (IP → domain), oldest evicted first. Default 100,000. */
  dnsCacheMax?: number;
  /** Floor for a DNS answer's TTL, seconds (answers with TTL 0 are still useful). Default 60. */
  dnsMinTtlSeconds?: number;
  /** TTL assumed when the sniffer did not report one, seconds. Default 300. */
  dnsDefaultTtlSeconds?: number;
  /** Most batches committed in one transaction. Default 64. */
  maxGroup?: number;
  /**
   * Look edge keys of resolved calls up by identity object (`pairKey`) instead of building them
   * per observation. Default true; false is the previous path (the tests' oracle).
   */
  keyCache?: boolean;
  /**
   * Known-edge fast path (ADR 0101): an observation of a stored edge, on one of its stored ports,
   * between identities the store already holds, becomes one row of numbers (`BatchDelta.known`)
   * instead of an `EdgeDelta`. Needs `keyCache`. Default true; false is the previous path.
   */
  knownEdges?: boolean;
}

export interface IngestStats {
  batches: number;
  duplicates: number;
  observations: Record<string, number>;
  unresolved: Record<string, number>;
  dropped: Record<string, number>;
  dnsCacheSize: number;
}

export interface IngestPipeline {
  /**
   * Resolves one validated batch and queues it for the next group commit (batches arriving in the
   * same event-loop turn, or while the previous group is being committed, share one transaction).
   * Resolves only after the commit; rejects if the commit failed (then nothing of the batch was
   * stored).
   */
  ingest(batch: ReportBatch): Promise<IngestReceipt>;
  /** Hands the pending group to the store now; `store.close()` then waits for its commit. */
  flush(): void;
  stats(): IngestStats;
}

interface Counters {
  kinds: Partial<Record<ObservationKind, number>>;
  unresolved: Map<string, number>;
  dropped: Map<string, number>;
}

interface PendingItem {
  /** Only the id and size are kept: the observations are garbage once collected into the delta. */
  batchId: string;
  accepted: number;
  counters: Counters | undefined;
  /** Set when the same batch id is already pending in this group. */
  duplicateOf: PendingItem | undefined;
  /** This batch's answer (a retry of it arriving while the group commits waits for it). */
  promise: Promise<IngestReceipt> | undefined;
  resolve: (r: IngestReceipt) => void;
  reject: (e: unknown) => void;
}

interface Group {
  edges: Map<string, SeqDelta>;
  /** Known-edge rows (ADR 0101), taken in store epoch `known.epoch`; row i's edge and identities. */
  known: KnownRows;
  recs: EdgeRecord[];
  clients: WorkloadIdentity[];
  servers: WorkloadIdentity[];
  /** Sequence numbers of first observations (rows and deltas share them). */
  seq: number;
  /** Rows became deltas: `edges` is no longer in first-observation order (sorted at flush). */
  reordered: boolean;
  /** This group's mark in `marks` (edge ids it has rows for). */
  no: number;
  acl: Map<string, KafkaAclRecord>;
  answers: DnsAnswer[];
  items: PendingItem[];
  byId: Map<string, PendingItem>;
}

interface DnsCacheEntry {
  domain: string;
  expiresAt: number;
}

const sameWorkload = (a: WorkloadRef, b: WorkloadRef): boolean => a.name === b.name && a.namespace === b.namespace;

/** A group's delta with the group's sequence number of the edge's first observation. */
interface SeqDelta extends EdgeDelta {
  seq: number;
}

/** Adds one (non-self) call to a group's aggregated deltas (a new delta gets sequence number `seq`). */
function addEdge(
  edges: Map<string, SeqDelta>,
  seq: number,
  key: string,
  client: WorkloadIdentity,
  server: WorkloadIdentity | undefined,
  via: WorkloadRef | undefined,
  extDomain: string | undefined,
  time: number,
  count: number,
  port: number | undefined,
): SeqDelta {
  let e = edges.get(key);
  if (!e) {
    e = {
      seq,
      key,
      client,
      // sized for its first port (a push onto `[]` allocates room for 17)
      ports: port === undefined ? [] : [port],
      http: NONE,
      kafka: NONE,
      extIps: NONE,
      firstSeen: time,
      lastSeen: time,
      count: 0,
    };
    if (server) e.server = server;
    if (via) e.via = via;
    if (extDomain !== undefined) e.extDomain = extDomain;
    edges.set(key, e);
  } else {
    if (time < e.firstSeen) e.firstSeen = time;
    if (time > e.lastSeen) e.lastSeen = time;
    // identities resolved later in the batch win (labels/kind may have been learnt)
    if (server && server.kind !== 'Unknown') e.server = server;
    if (port !== undefined && !e.ports.includes(port)) e.ports.push(port);
  }
  e.count += count;
  return e;
}

/**
 * Known-edge rows taken in another store epoch (the map was reset while they waited): their ids
 * mean nothing now, so they become ordinary deltas again (new edges of the reset map).
 */
function convertKnown(g: Group, epoch: number): void {
  const kr = g.known;
  for (let i = 0; i < kr.n; i++) moveRow(g, i);
  kr.n = 0;
  kr.epoch = epoch;
  clearKnown(g);
}

/**
 * Row i becomes part of an ordinary delta again, ordered by the row's sequence number (so the
 * group's deltas are planned in the order the previous path would have: first observation first).
 */
function moveRow(g: Group, i: number): void {
  const rows = g.known.rows;
  const o = i * KNOWN_COLS;
  if ((rows[o] as number) < 0) return; // moved already
  const rec = g.recs[i] as EdgeRecord;
  const port = rows[o + 3] as number;
  const e = addEdge(
    g.edges,
    rows[o + 4] as number,
    rec.key,
    g.clients[i] as WorkloadIdentity,
    g.servers[i] as WorkloadIdentity,
    rec.via,
    undefined,
    rows[o + 1] as number,
    rows[o + 2] as number,
    port < 0 ? undefined : port,
  );
  if ((rows[o + 4] as number) < e.seq) e.seq = rows[o + 4] as number;
  rows[o] = -1;
  g.reordered = true;
}

function clearKnown(g: Group): void {
  g.recs.length = 0;
  g.clients.length = 0;
  g.servers.length = 0;
}

/**
 * Shared, frozen empty detail list: most edges never get HTTP, Kafka or external-IP details, so a
 * delta starts with this instead of three fresh arrays (replaced on the first push; a push onto it
 * would throw, not corrupt).
 */
const NONE = Object.freeze([]) as unknown as never[];

export function createIngestPipeline(opts: IngestOptions): IngestPipeline {
  const { resolver, store } = opts;
  const clock = opts.clock ?? Date.now;
  const dnsMax = opts.dnsCacheMax ?? 100_000;
  const minTtl = (opts.dnsMinTtlSeconds ?? 60) * 1000;
  const defaultTtl = (opts.dnsDefaultTtlSeconds ?? 300) * 1000;
  const maxGroup = opts.maxGroup ?? 64;
  const keyCache = opts.keyCache ?? true;
  const knownEdges = keyCache && (opts.knownEdges ?? true);
  const dnsCache = new Map<string, DnsCacheEntry>();
  const st: IngestStats = { batches: 0, duplicates: 0, observations: {}, unresolved: {}, dropped: {}, dnsCacheSize: 0 };

  for (const a of store.dnsAnswers(clock())) remember(a.ip, a.domain, a.expiresAt);

  function remember(ip: string, domain: string, expiresAt: number): void {
    const old = dnsCache.get(ip);
    if (old) dnsCache.delete(ip); // re-insert at the end: most recent last
    dnsCache.set(ip, {
      domain,
      expiresAt: old && old.domain === domain ? Math.max(old.expiresAt, expiresAt) : expiresAt,
    });
    while (dnsCache.size > dnsMax) {
      const first = dnsCache.keys().next();
      if (first.done) break;
      dnsCache.delete(first.value);
    }
  }

  const bump = (rec: Record<string, number>, k: string, n: number): void => {
    rec[k] = (rec[k] ?? 0) + n;
  };

  /** Resolves one batch into the group's aggregated delta; returns its counters. */
  function collect(batch: ReportBatch, g: Group): Counters {
    const { edges, acl, answers } = g;
    const epoch = store.epoch;
    if (g.known.epoch !== epoch) convertKnown(g, epoch);
    // Records in a pair cache were found with both identities current: they stay so while the
    // store's identity version (bumped whenever a stored identity is replaced, and by a reset) holds.
    const idv = store.identityVersion;
    let pmClient: WorkloadIdentity | undefined;
    let pmVia: WorkloadRef | undefined;
    let pmMap: Map<WorkloadIdentity, PairValue> | undefined;
    const kinds: Partial<Record<ObservationKind, number>> = {};
    const unresolved = new Map<string, number>();
    const dropped = new Map<string, number>();

    const miss = (kind: ObservationKind, reason: string, n: number): void => {
      const k = `${kind}\u0000${reason}`;
      unresolved.set(k, (unresolved.get(k) ?? 0) + n);
    };
    const drop = (kind: ObservationKind, reason: DropReason, n: number): void => {
      const k = `${kind}\u0000${reason}`;
      dropped.set(k, (dropped.get(k) ?? 0) + n);
    };

    /** Exactly one of `server` and `extDomain` is given (positional: no target object per observation). */
    function edge(
      kind: ObservationKind,
      client: WorkloadIdentity,
      server: WorkloadIdentity | undefined,
      via: WorkloadRef | undefined,
      extDomain: string | undefined,
      time: number,
      count: number,
      port: number | undefined,
    ): EdgeDelta | undefined {
      if (server && sameWorkload(client, server)) {
        drop(kind, 'self-call', count);
        return undefined;
      }
      // Identities from resolveIp / resolveDnsName / resolvePod come from the resolver's caches
      // (one object per workload): their key is looked up. Names resolved by resolveWorkloadName
      // (http, workload-tcp) may be fresh objects, and http's Service ref is built per observation.
      const key =
        !keyCache || server === undefined || kind === 'http' || kind === 'workload-tcp'
          ? edgeKey(client, server, via, extDomain)
          : pairKey(client, server, via);
      if (g.known.n > 0 && !edges.has(key)) {
        // rows of this edge taken earlier in the group join the new delta first (first observation wins)
        const rec = store.knownEdge(key);
        if (rec !== undefined && rec.id < marks.length && marks[rec.id] === g.no) {
          const rows = g.known.rows;
          for (let i = 0; i < g.known.n; i++) if (rows[i * KNOWN_COLS] === rec.id) moveRow(g, i);
        }
      }
      return addEdge(edges, g.seq++, key, client, server, via, extDomain, time, count, port);
    }

    /**
     * The known-edge fast path (ADR 0101): true when the observation was taken as a row of numbers.
     * Only for calls between identities from the resolver's caches (tcp, dns); the caller falls
     * back to `edge` otherwise (which also drops self-calls).
     */
    function known(
      client: WorkloadIdentity,
      server: WorkloadIdentity,
      via: WorkloadRef | undefined,
      time: number,
      count: number,
      port: number | undefined,
    ): boolean {
      if (!knownEdges || sameWorkload(client, server)) return false;
      // consecutive observations of one client share its pair cache
      let m = pmMap;
      if (client !== pmClient || via !== pmVia || m === undefined) {
        const pc = pairCache(client, via);
        if (pc.epoch !== epoch || pc.idv !== idv) {
          // identities may have been replaced since these records were found: keep only keys
          for (const [w, v] of pc.map) if (typeof v !== 'string') pc.map.set(w, v.key);
          pc.epoch = epoch;
          pc.idv = idv;
        }
        m = pc.map;
        pmClient = client;
        pmVia = via;
        pmMap = m;
      }
      let v = m.get(server);
      let rec: EdgeRecord | undefined;
      if (v !== undefined && typeof v !== 'string' && store.holdsEdge(v)) rec = v;
      else {
        if (v === undefined) {
          if (m.size >= PAIR_KEYS_MAX) m.clear();
          v = edgeKey(client, server, via, undefined);
          m.set(server, v);
        } else if (typeof v !== 'string') {
          // a record of a reset map (or of another store): keep only its key
          v = v.key;
          m.set(server, v);
        }
        rec = store.knownEdge(v);
        // identities the store holds as they are (no workload row to write)
        if (rec === undefined || !store.identityCurrent(client) || !store.identityCurrent(server)) return false;
        // the record holds the same key string: the cache keeps one or the other
        m.set(server, rec);
      }
      if (port !== undefined && !rec.ports.includes(port)) return false;
      // this group already has a delta for the edge: add to it (as the previous path would)
      if (edges.size > 0 && edges.has(rec.key)) return false;
      const id = rec.id;
      if (id >= marks.length) {
        const grown = new Int32Array(Math.max(2 * marks.length, id + 4096));
        grown.set(marks);
        marks = grown;
      }
      marks[id] = g.no;
      const kr = g.known;
      const i = kr.n++;
      let o = i * KNOWN_COLS;
      if (o + KNOWN_COLS > kr.rows.length) {
        const grown = new Float64Array(2 * kr.rows.length);
        grown.set(kr.rows);
        kr.rows = grown;
      }
      const rows = kr.rows;
      rows[o++] = id;
      rows[o++] = time;
      rows[o++] = count;
      rows[o++] = port ?? -1;
      rows[o] = g.seq++;
      g.recs[i] = rec;
      g.clients[i] = client;
      g.servers[i] = server;
      return true;
    }

    function clientOf(kind: ObservationKind, ip: string, time: number, count: number): WorkloadIdentity | undefined {
      const r = resolver.resolveIp(ip, time);
      if (!r.ok) {
        miss(kind, r.reason, count);
        return undefined;
      }
      return r.workload;
    }

    function onTcp(o: TcpObservation, count: number): void {
      const client = clientOf('tcp', o.clientIp, o.time, count);
      if (!client) return;
      const r = resolver.resolveIp(o.serverIp, o.time);
      if (r.ok) {
        const via = viaOf(r);
        if (!known(client, r.workload, via, o.time, count, o.serverPort)) {
          edge('tcp', client, r.workload, via, undefined, o.time, count, o.serverPort);
        }
        return;
      }
      const ext = dnsCache.get(o.serverIp);
      if (ext && ext.expiresAt >= o.time) {
        const e = edge('tcp', client, undefined, undefined, ext.domain, o.time, count, o.serverPort);
        if (e && !e.extIps.includes(o.serverIp)) {
          if (e.extIps === NONE) e.extIps = [];
          e.extIps.push(o.serverIp);
        }
        return;
      }
      miss('tcp', r.reason, count);
    }

    function onDns(o: DnsObservation, count: number): void {
      const cluster = resolver.isClusterName(o.name);
      if (!cluster) {
        const ttl = o.ttl === undefined ? defaultTtl : Math.max(o.ttl * 1000, minTtl);
        for (const ip of o.ips) {
          remember(ip, o.name, o.time + ttl);
          answers.push({ ip, domain: o.name, expiresAt: o.time + ttl });
        }
      }
      const client = clientOf('dns', o.clientIp, o.time, count);
      if (!client) return;
      if (cluster) {
        const r = resolver.resolveDnsName(o.name, o.ips, o.time, client.namespace);
        if (!r.ok) {
          miss('dns', r.reason, count);
          return;
        }
        const via = viaOf(r);
        if (!known(client, r.workload, via, o.time, count, undefined)) {
          edge('dns', client, r.workload, via, undefined, o.time, count, undefined);
        }
        return;
      }
      const e = edge('dns', client, undefined, undefined, o.name, o.time, count, undefined);
      if (e) {
        for (const ip of o.ips) {
          if (e.extIps.includes(ip)) continue;
          if (e.extIps === NONE) e.extIps = [];
          e.extIps.push(ip);
        }
      }
    }

    function onHttp(o: HttpObservation): void {
      const client = resolver.resolveWorkloadName(o.client);
      const server = resolver.resolveWorkloadName(o.server);
      const via = o.serverService ? { name: o.serverService, namespace: o.server.namespace } : undefined;
      const e = edge('http', client, server, via, undefined, o.time, o.count, o.port);
      if (!e) return;
      if (o.path !== undefined) {
        const method = o.method ?? '';
        if (!e.http.some((h) => h.path === o.path && h.method === method)) {
          if (e.http === NONE) e.http = [];
          e.http.push({ method, path: o.path });
        }
      }
    }

    function onWorkloadTcp(o: WorkloadTcpObservation): void {
      const client = resolver.resolveWorkloadName(o.client);
      const server = resolver.resolveWorkloadName(o.server);
      edge('workload-tcp', client, server, undefined, undefined, o.time, o.count, o.port);
    }

    function onKafka(o: KafkaObservation): void {
      const client = clientOf('kafka', o.clientIp, o.time, o.count);
      if (!client) return;
      const r = resolver.resolvePod(o.serverPod, o.time);
      if (!r.ok) {
        miss('kafka', r.reason, o.count);
        return;
      }
      if (sameWorkload(client, r.workload)) {
        drop('kafka', 'self-call', o.count);
        return;
      }
      if (o.resourceType !== 'Topic') {
        const rec: KafkaAclRecord = {
          client: { name: client.name, namespace: client.namespace },
          server: { name: r.workload.name, namespace: r.workload.namespace },
          resourceType: o.resourceType,
          resourceName: o.resourceName,
          patternType: o.patternType,
          operation: o.operation,
          allowed: o.allowed,
          principal: o.principal ?? '',
          firstSeen: o.time,
          lastSeen: o.time,
          count: o.count,
        };
        const k = [
          rec.client.namespace,
          rec.client.name,
          rec.server.namespace,
          rec.server.name,
          rec.resourceType,
          rec.resourceName,
          rec.patternType,
          rec.operation,
          rec.allowed,
          rec.principal,
        ].join('\u0000');
        const old = acl.get(k);
        if (old) {
          old.firstSeen = Math.min(old.firstSeen, o.time);
          old.lastSeen = Math.max(old.lastSeen, o.time);
          old.count += o.count;
        } else acl.set(k, rec);
        return;
      }
      const e = edge('kafka', client, r.workload, undefined, undefined, o.time, o.count, undefined);
      if (!e) return;
      const topic = o.patternType === 'PREFIXED' ? `${o.resourceName}*` : o.resourceName;
      if (!e.kafka.some((a) => a.topic === topic && a.operation === o.operation && a.allowed === o.allowed)) {
        if (e.kafka === NONE) e.kafka = [];
        e.kafka.push({ topic, operation: o.operation, allowed: o.allowed });
      }
    }

    // Counts per kind in locals (a keyed store per observation is slow), kinds in first-seen order.
    let nTcp = 0;
    let nDns = 0;
    let nHttp = 0;
    let nWorkloadTcp = 0;
    let nKafka = 0;
    const order: ObservationKind[] = [];
    for (const o of batch.observations as Observation[]) {
      const count = o.count ?? 1;
      switch (o.kind) {
        case 'tcp':
          if (nTcp === 0) order.push('tcp');
          nTcp += count;
          onTcp(o, count);
          break;
        case 'dns':
          if (nDns === 0) order.push('dns');
          nDns += count;
          onDns(o, count);
          break;
        case 'http':
          if (nHttp === 0) order.push('http');
          nHttp += count;
          onHttp(o);
          break;
        case 'workload-tcp':
          if (nWorkloadTcp === 0) order.push('workload-tcp');
          nWorkloadTcp += count;
          onWorkloadTcp(o);
          break;
        case 'kafka':
          if (nKafka === 0) order.push('kafka');
          nKafka += count;
          onKafka(o);
          break;
      }
    }
    const n: Record<ObservationKind, number> = {
      tcp: nTcp,
      dns: nDns,
      http: nHttp,
      'workload-tcp': nWorkloadTcp,
      kafka: nKafka,
    };
    for (const k of order) kinds[k] = n[k];

    return { kinds, unresolved, dropped };
  }

  let group: Group | undefined;
  let groups = 0;
  /**
   * Row buffers of answered groups, reused (they grow to the largest group; without reuse every
   * group allocated its own, off-heap, freed only by a later GC).
   */
  const spareRows: Float64Array[] = [];
  /** Per edge id: the last group that took a known-edge row of it (`Group.no`). */
  let marks = new Int32Array(0);
  let flushScheduled = false;
  /** Groups handed to the store and not answered yet (normally at most one, see `autoFlush`). */
  let inflight = 0;
  /** First items of those groups by batch id: a retry arriving meanwhile waits for its outcome. */
  const inflightIds = new Map<string, PendingItem>();

  function countersAfterCommit(c: Counters): void {
    st.batches++;
    for (const [k, n] of Object.entries(c.kinds)) {
      bump(st.observations, k, n);
      opts.metrics?.observations(k as ObservationKind, n);
    }
    for (const [k, n] of c.unresolved) {
      const [kind, reason] = k.split('\u0000') as [ObservationKind, string];
      bump(st.unresolved, reason, n);
      opts.metrics?.unresolved(kind, reason, n);
    }
    for (const [k, n] of c.dropped) {
      const [kind, reason] = k.split('\u0000') as [ObservationKind, DropReason];
      bump(st.dropped, reason, n);
      opts.metrics?.dropped(kind, reason, n);
    }
  }

  /**
   * Hands the pending group to the store (one transaction; ADR 0031, 0100). Each batch is answered
   * only when the store reports the commit; all of them fail together if it fails. Never throws.
   */
  function flush(): void {
    flushScheduled = false;
    const g = group;
    group = undefined;
    if (!g || g.items.length === 0) return;
    if (g.known.epoch !== store.epoch) convertKnown(g, store.epoch);
    const edges: EdgeDelta[] = [...g.edges.values()];
    if (g.reordered) (edges as SeqDelta[]).sort((a, b) => a.seq - b.seq);
    const delta: BatchDelta = { edges, acl: [...g.acl.values()], dnsAnswers: g.answers };
    if (g.known.n > 0) delta.known = g.known;
    // The group waits for its commit; its deltas need not (they die young, ADR 0037).
    clearKnown(g);
    g.edges.clear();
    g.acl.clear();
    g.byId.clear();
    const firsts = g.items.filter((it) => it.duplicateOf === undefined);
    for (const it of firsts) inflightIds.set(it.batchId, it);
    inflight++;
    let committed: Promise<void>;
    try {
      committed = store.applyGroupAsync(
        firsts.map((it) => ({ batchId: it.batchId, accepted: it.accepted })),
        delta,
        clock(),
      );
    } catch (e) {
      committed = Promise.reject(e);
    }
    committed.then(
      () => settled(g, firsts, undefined),
      (e: unknown) => settled(g, firsts, e ?? new Error('group commit failed')),
    );
  }

  function settled(g: Group, firsts: PendingItem[], err: unknown): void {
    inflight--;
    // The store has planned (or dropped) the group: its row buffer serves a later group.
    if (spareRows.length < 2) spareRows.push(g.known.rows);
    for (const it of firsts) if (inflightIds.get(it.batchId) === it) inflightIds.delete(it.batchId);
    if (err !== undefined) {
      for (const it of g.items) it.reject(err);
    } else {
      for (const it of g.items) {
        const accepted = (it.duplicateOf ?? it).accepted;
        if (it.duplicateOf) {
          st.duplicates++;
          it.resolve({ batchId: it.batchId, accepted, duplicate: true });
        } else {
          countersAfterCommit(it.counters as Counters);
          it.resolve({ batchId: it.batchId, accepted, duplicate: false });
        }
      }
    }
    // What arrived while that group was committing goes now, as one group.
    if (inflight === 0 && group !== undefined && group.items.length > 0) flush();
  }

  /** End of the event-loop turn: commit now, or when the group in flight is answered. */
  function autoFlush(): void {
    flushScheduled = false;
    if (inflight === 0) flush();
  }

  function ingest(batch: ReportBatch): Promise<IngestReceipt> {
    const flying = inflightIds.get(batch.batchId);
    if (flying?.promise !== undefined && group?.byId.get(batch.batchId) === undefined) {
      // The same id is being committed right now: answer as its duplicate once that is settled.
      return flying.promise.then((r) => {
        st.duplicates++;
        return { batchId: batch.batchId, accepted: r.accepted, duplicate: true };
      });
    }
    let prior: ReturnType<MapStore['acceptedBatch']>;
    try {
      prior = store.acceptedBatch(batch.batchId);
    } catch (e) {
      return Promise.reject(e);
    }
    if (prior) {
      st.duplicates++;
      return Promise.resolve({ batchId: batch.batchId, accepted: prior.accepted, duplicate: true });
    }
    if (group === undefined) {
      group = {
        edges: new Map(),
        known: { epoch: store.epoch, n: 0, rows: spareRows.pop() ?? new Float64Array(KNOWN_COLS * 1024) },
        seq: 0,
        reordered: false,
        no: ++groups,
        recs: [],
        clients: [],
        servers: [],
        acl: new Map(),
        answers: [],
        items: [],
        byId: new Map(),
      };
    }
    const g = group;
    let item: PendingItem | undefined;
    const promise = new Promise<IngestReceipt>((resolve, reject) => {
      const first = g.byId.get(batch.batchId);
      item = {
        batchId: batch.batchId,
        accepted: batch.observations.length,
        counters: undefined,
        duplicateOf: first,
        promise: undefined,
        resolve,
        reject,
      };
      if (!first) {
        item.counters = collect(batch, g);
        g.byId.set(batch.batchId, item);
      }
      g.items.push(item);
    });
    (item as PendingItem).promise = promise;
    if (g.items.length >= maxGroup) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(autoFlush);
    }
    return promise;
  }

  return {
    ingest,
    flush,
    stats: () => ({
      batches: st.batches,
      duplicates: st.duplicates,
      observations: { ...st.observations },
      unresolved: { ...st.unresolved },
      dropped: { ...st.dropped },
      dnsCacheSize: dnsCache.size,
    }),
  };
}

/**
 * Edge keys of calls between two resolved workloads, by the identity objects the resolver handed
 * out (and the Service ref, interned by `viaOf`): the ingest hot path looks the key up instead of
 * building three strings per observation (and hashing a fresh one). Identity objects are treated
 * as immutable, as the store's identity slots already do (a resolver hands out a new object when
 * a workload's identity changes); the key depends only on their namespaces and names, so a cached
 * key always equals `edgeKey(client, server, via)`. Keyed weakly by the client (and Service ref):
 * entries go with the resolver's objects; a client's map is cleared beyond `PAIR_KEYS_MAX` servers
 * so replaced server identities cannot pile up.
 */
/**
 * A pair's cached edge: its key, or the store's record of that edge once the known-edge path has
 * found it (ADR 0101; the record holds the same key, so this costs no memory over the key alone).
 */
type PairValue = string | EdgeRecord;
/**
 * The pair cache of one client (and Service ref): server identity → key or record. Records were
 * found (with both identities current) in store epoch `epoch` at identity version `idv`.
 */
interface PairCache {
  epoch: number;
  idv: number;
  readonly map: Map<WorkloadIdentity, PairValue>;
}
const pairKeys = new WeakMap<WorkloadIdentity, PairCache>();
const viaPairKeys = new WeakMap<WorkloadRef, WeakMap<WorkloadIdentity, PairCache>>();
const PAIR_KEYS_MAX = 4096;

function pairCache(client: WorkloadIdentity, via: WorkloadRef | undefined): PairCache {
  let byClient = pairKeys;
  if (via !== undefined) {
    let v = viaPairKeys.get(via);
    if (v === undefined) {
      v = new WeakMap();
      viaPairKeys.set(via, v);
    }
    byClient = v;
  }
  let pc = byClient.get(client);
  if (pc === undefined) {
    pc = { epoch: -1, idv: -1, map: new Map() };
    byClient.set(client, pc);
  }
  return pc;
}

export function pairKey(client: WorkloadIdentity, server: WorkloadIdentity, via: WorkloadRef | undefined): string {
  const m = pairCache(client, via).map;
  const v = m.get(server);
  if (v !== undefined) return typeof v === 'string' ? v : v.key;
  if (m.size >= PAIR_KEYS_MAX) m.clear();
  const k = edgeKey(client, server, via, undefined);
  m.set(server, k);
  return k;
}

/** The Service a resolved call went through, as a ref (one object per Service object, cached). */
const viaRefs = new WeakMap<object, WorkloadRef>();
function viaOf(r: Extract<Resolution, { ok: true }>): WorkloadRef | undefined {
  const svc = r.service;
  if (!svc) return undefined;
  let ref = viaRefs.get(svc);
  if (ref === undefined || ref.name !== svc.name || ref.namespace !== svc.namespace) {
    ref = { name: svc.name, namespace: svc.namespace };
    viaRefs.set(svc, ref);
  }
  return ref;
}
