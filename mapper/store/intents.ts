/**
 * Read side of the map: the in-memory edges → `Intent[]` with the query filters applied, and the
 * graph view. Pure over the store's read API (no SQL), so it is cheap enough to run per change.
 */
import type {
  GraphEdge,
  GraphNode,
  GraphResponse,
  HttpResource,
  Intent,
  KafkaOperation,
  KafkaTopicAccess,
  WorkloadIdentity,
  WorkloadRef,
} from '../contract/index.ts';
import type { EdgeRecord, MapStore } from './types.ts';

export interface LabelSelector {
  key: string;
  /** Absent: the label's presence matches. */
  value?: string;
}

export interface IntentsFilter {
  /** Client namespaces to include (empty/absent: all). */
  namespaces?: readonly string[];
  /** Only intents to this server (matches the workload, or the Service the calls went through). */
  server?: WorkloadRef;
  /** Drop intents whose client or server carries any of these labels. */
  excludeLabels?: readonly LabelSelector[];
  /** Include external (internet) destinations. Default false. */
  external?: boolean;
  /** Report calls to the Kubernetes Service they went through rather than the workload behind it. */
  asKubernetesService?: boolean;
}

/** Parses `k=v,k2` style selectors (already split on commas). */
export function parseLabelSelectors(items: readonly string[]): LabelSelector[] {
  return items.map((s) => {
    const i = s.indexOf('=');
    return i < 0 ? { key: s } : { key: s.slice(0, i), value: s.slice(i + 1) };
  });
}

const hasLabel = (w: WorkloadIdentity | undefined, sel: readonly LabelSelector[]): boolean => {
  const labels = w?.labels;
  if (!labels) return false;
  return sel.some((l) => (l.value === undefined ? l.key in labels : labels[l.key] === l.value));
};

interface Acc {
  intent: Intent;
  http: Map<string, Set<string>>;
  kafka: Map<string, { ok: Set<KafkaOperation>; denied: Set<KafkaOperation> }>;
  ports: Set<number>;
  ips: Set<string>;
  viaSeen: number;
}

function identity(store: MapStore, ref: WorkloadRef): WorkloadIdentity {
  return store.workload(ref) ?? { name: ref.name, namespace: ref.namespace, kind: 'Unknown' };
}

/** Builds the intents list from the store, filtered and merged per (client, target). */
export function buildIntents(store: MapStore, f: IntentsFilter = {}): Intent[] {
  const ns = f.namespaces && f.namespaces.length > 0 ? new Set(f.namespaces) : undefined;
  const exclude = f.excludeLabels && f.excludeLabels.length > 0 ? f.excludeLabels : undefined;
  if (!f.asKubernetesService && !f.server) {
    // Common case: reuse the sorted grouping (no per-edge keys, no sort).
    const out: Intent[] = [];
    for (const g of groupedEdges(store)) {
      const e = g[0] as EdgeRecord;
      if (e.extDomain !== undefined && !f.external) continue;
      if (ns && !ns.has(e.client.namespace)) continue;
      if (
        exclude &&
        (hasLabel(store.workload(e.client), exclude) || (e.server && hasLabel(store.workload(e.server), exclude)))
      ) {
        continue;
      }
      out.push(groupIntent(store, g));
    }
    return out;
  }
  const groups = new Map<string, Acc>();
  for (const e of store.edges()) {
    if (e.extDomain !== undefined && !f.external) continue;
    if (ns && !ns.has(e.client.namespace)) continue;
    const asService = f.asKubernetesService === true && e.via !== undefined && e.server !== undefined;
    if (f.server) {
      const s = f.server;
      const hit =
        (e.server !== undefined && e.server.name === s.name && e.server.namespace === s.namespace) ||
        (e.via !== undefined && e.via.name === s.name && e.via.namespace === s.namespace);
      if (!hit) continue;
    }
    const client = identity(store, e.client);
    let server: WorkloadIdentity | undefined;
    if (e.server) {
      server = asService
        ? { name: (e.via as WorkloadRef).name, namespace: (e.via as WorkloadRef).namespace, kind: 'Service' }
        : identity(store, e.server);
    }
    if (exclude && (hasLabel(client, exclude) || (e.server && hasLabel(identity(store, e.server), exclude)))) continue;
    const targetKey =
      e.extDomain !== undefined
        ? `ext:${e.extDomain}`
        : `${server?.kind === 'Service' && asService ? 'svc:' : ''}${server?.namespace}/${server?.name}`;
    const key = `${e.client.namespace}/${e.client.name}>${targetKey}`;
    let acc = groups.get(key);
    if (!acc) {
      const intent: Intent = {
        client,
        ports: [],
        http: [],
        kafka: [],
        firstSeen: e.firstSeen,
        lastSeen: e.lastSeen,
        count: 0,
      };
      if (server) intent.server = server;
      if (e.extDomain !== undefined) intent.external = { domain: e.extDomain, ips: [] };
      acc = { intent, http: new Map(), kafka: new Map(), ports: new Set(), ips: new Set(), viaSeen: -1 };
      groups.set(key, acc);
    }
    merge(acc, e);
  }
  const out: Intent[] = [];
  for (const acc of groups.values()) out.push(finish(acc));
  out.sort(compareIntents);
  return out;
}

/** Number of intents (client → server workload or external domain) with external ones, cheaply. */
export function countIntents(store: MapStore): number {
  const keys = new Set<string>();
  for (const e of store.edges()) {
    const target = e.extDomain !== undefined ? `ext:${e.extDomain}` : `${e.server?.namespace}/${e.server?.name}`;
    keys.add(`${e.client.namespace}/${e.client.name}>${target}`);
  }
  return keys.size;
}

function merge(acc: Acc, e: EdgeRecord): void {
  const it = acc.intent;
  if (e.firstSeen < it.firstSeen) it.firstSeen = e.firstSeen;
  if (e.lastSeen > it.lastSeen) it.lastSeen = e.lastSeen;
  it.count += e.count;
  if (e.via && e.lastSeen > acc.viaSeen) {
    acc.viaSeen = e.lastSeen;
    it.viaService = { name: e.via.name, namespace: e.via.namespace };
  }
  for (const p of e.ports) acc.ports.add(p);
  if (e.extIps) for (const ip of e.extIps) acc.ips.add(ip);
  if (e.http)
    for (const h of e.http.values()) {
      let m = acc.http.get(h.path);
      if (!m) {
        m = new Set();
        acc.http.set(h.path, m);
      }
      if (h.method !== '') m.add(h.method);
    }
  if (e.kafka)
    for (const k of e.kafka.values()) {
      let t = acc.kafka.get(k.topic);
      if (!t) {
        t = { ok: new Set(), denied: new Set() };
        acc.kafka.set(k.topic, t);
      }
      (k.allowed ? t.ok : t.denied).add(k.operation);
    }
}

function finish(acc: Acc): Intent {
  const it = acc.intent;
  it.ports = [...acc.ports].sort((a, b) => a - b);
  if (it.external) it.external.ips = [...acc.ips].sort();
  const http: HttpResource[] = [];
  for (const [path, methods] of acc.http) http.push({ path, methods: [...methods].sort() });
  http.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  it.http = http;
  const kafka: KafkaTopicAccess[] = [];
  for (const [topic, t] of acc.kafka) {
    kafka.push({ topic, operations: [...t.ok].sort(), deniedOperations: [...t.denied].sort() });
  }
  kafka.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  it.kafka = kafka;
  return it;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareIntents(a: Intent, b: Intent): number {
  return (
    cmp(a.client.namespace, b.client.namespace) ||
    cmp(a.client.name, b.client.name) ||
    cmp(a.server?.namespace ?? '\uffff', b.server?.namespace ?? '\uffff') ||
    cmp(a.server?.name ?? a.external?.domain ?? '', b.server?.name ?? b.external?.domain ?? '') ||
    cmp(a.server?.kind ?? '', b.server?.kind ?? '')
  );
}

export const nodeId = (w: WorkloadIdentity): string =>
  w.kind === 'Service' ? `svc:${w.namespace}/${w.name}` : `${w.namespace}/${w.name}`;

/** Nodes (workloads, services, external domains) and edges of the filtered map. */
export function buildGraph(intents: readonly Intent[]): GraphResponse {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  for (const it of intents) {
    const source = nodeId(it.client);
    if (!nodes.has(source)) nodes.set(source, { id: source, workload: it.client });
    let target: string;
    if (it.server) {
      target = nodeId(it.server);
      if (!nodes.has(target)) nodes.set(target, { id: target, workload: it.server });
    } else {
      const ext = it.external ?? { domain: '?', ips: [] };
      target = `ext:${ext.domain}`;
      if (!nodes.has(target)) nodes.set(target, { id: target, external: ext });
    }
    const kinds: GraphEdge['kinds'] = [];
    if (it.ports.length > 0 || (it.http.length === 0 && it.kafka.length === 0)) kinds.push('l4');
    if (it.http.length > 0) kinds.push('http');
    if (it.kafka.length > 0) kinds.push('kafka');
    edges.push({ id: `${source}->${target}`, source, target, kinds, intent: it });
  }
  return { nodes: [...nodes.values()].sort((a, b) => cmp(a.id, b.id)), edges };
}

// ---------------------------------------------------------------------------
// Fast path for `GET /api/v1/intents`: edges grouped per (client, target) in output order, kept
// until edges are added or removed; each single-edge group's JSON is cached on the edge until it
// (or any workload identity) changes. A cold response after a small change is then a join of
// cached strings instead of rebuilding and re-serialising every intent.

interface Grouped {
  structure: number;
  groups: EdgeRecord[][];
}

const groupedCache = new WeakMap<MapStore, Grouped>();
const fragments = new WeakMap<
  EdgeRecord,
  { rev: number; client: WorkloadIdentity | undefined; server: WorkloadIdentity | undefined; json: Buffer }
>();

const groupKey = (e: EdgeRecord): string =>
  `${e.client.namespace}/${e.client.name}>${e.extDomain !== undefined ? `\uffff${e.extDomain}` : `${e.server?.namespace}/${e.server?.name}`}`;

function compareGroups(a: EdgeRecord[], b: EdgeRecord[]): number {
  const x = a[0] as EdgeRecord;
  const y = b[0] as EdgeRecord;
  return (
    cmp(x.client.namespace, y.client.namespace) ||
    cmp(x.client.name, y.client.name) ||
    cmp(x.server?.namespace ?? '\uffff', y.server?.namespace ?? '\uffff') ||
    cmp(x.server?.name ?? x.extDomain ?? '', y.server?.name ?? y.extDomain ?? '')
  );
}

/** Edges grouped per (client, server workload or external domain), sorted like `buildIntents`. */
export function groupedEdges(store: MapStore): readonly EdgeRecord[][] {
  const c = groupedCache.get(store);
  if (c && c.structure === store.structureVersion) return c.groups;
  const m = new Map<string, EdgeRecord[]>();
  for (const e of store.edges()) {
    const k = groupKey(e);
    const g = m.get(k);
    if (g) g.push(e);
    else m.set(k, [e]);
  }
  const groups = [...m.values()].sort(compareGroups);
  groupedCache.set(store, { structure: store.structureVersion, groups });
  return groups;
}

function groupIntent(store: MapStore, group: readonly EdgeRecord[]): Intent {
  const first = group[0] as EdgeRecord;
  if (group.length === 1 && first.http === undefined && first.kafka === undefined) {
    // Plain L4/DNS edge: no merging needed, build it directly (no temporary sets and maps).
    const intent: Intent = {
      client: identity(store, first.client),
      ports: [...first.ports],
      http: [],
      kafka: [],
      firstSeen: first.firstSeen,
      lastSeen: first.lastSeen,
      count: first.count,
    };
    if (first.server) intent.server = identity(store, first.server);
    if (first.extDomain !== undefined)
      intent.external = { domain: first.extDomain, ips: [...(first.extIps ?? [])].sort() };
    if (first.via) intent.viaService = { name: first.via.name, namespace: first.via.namespace };
    return intent;
  }
  const intent: Intent = {
    client: identity(store, first.client),
    ports: [],
    http: [],
    kafka: [],
    firstSeen: first.firstSeen,
    lastSeen: first.lastSeen,
    count: 0,
  };
  if (first.server) intent.server = identity(store, first.server);
  if (first.extDomain !== undefined) intent.external = { domain: first.extDomain, ips: [] };
  const acc: Acc = { intent, http: new Map(), kafka: new Map(), ports: new Set(), ips: new Set(), viaSeen: -1 };
  for (const e of group) merge(acc, e);
  return finish(acc);
}

function groupJson(store: MapStore, group: readonly EdgeRecord[]): Buffer {
  if (group.length !== 1) return Buffer.from(`,${JSON.stringify(groupIntent(store, group))}`);
  const e = group[0] as EdgeRecord;
  // Valid while the edge and both workload identity objects are unchanged (the store replaces an
  // identity object when its kind or labels change).
  const client = store.workload(e.client);
  const server = e.server ? store.workload(e.server) : undefined;
  const hit = fragments.get(e);
  if (hit && hit.rev === e.rev && hit.client === client && hit.server === server) return hit.json;
  // Stored with a leading comma; the first element of a response drops it.
  const json = Buffer.from(`,${JSON.stringify(groupIntent(store, group))}`);
  fragments.set(e, { rev: e.rev, client, server, json });
  return json;
}

const OPEN = Buffer.from('{"intents":[');
const CLOSE = Buffer.from(']}');

/** The `IntentsResponse` JSON; same bytes as `JSON.stringify({ intents: buildIntents(store, f) })`. */
export function intentsJson(store: MapStore, f: IntentsFilter = {}): Buffer {
  if (f.asKubernetesService || f.server) return Buffer.from(JSON.stringify({ intents: buildIntents(store, f) }));
  const ns = f.namespaces && f.namespaces.length > 0 ? new Set(f.namespaces) : undefined;
  const exclude = f.excludeLabels && f.excludeLabels.length > 0 ? f.excludeLabels : undefined;
  const parts: Buffer[] = [OPEN];
  let first = true;
  for (const g of groupedEdges(store)) {
    const e = g[0] as EdgeRecord;
    if (e.extDomain !== undefined && !f.external) continue;
    if (ns && !ns.has(e.client.namespace)) continue;
    if (
      exclude &&
      (hasLabel(store.workload(e.client), exclude) || (e.server && hasLabel(store.workload(e.server), exclude)))
    ) {
      continue;
    }
    const frag = groupJson(store, g);
    parts.push(first ? frag.subarray(1) : frag);
    first = false;
  }
  parts.push(CLOSE);
  return Buffer.concat(parts);
}
