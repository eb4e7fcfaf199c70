/**
 * Pure functions over snapshot bodies: the summary (totals, per namespace) of one snapshot and the
 * diff between two. No I/O; the same input always gives the same, deterministically ordered output.
 */
import type { Intent, WorkloadIdentity, WorkloadRef } from '../contract/index.ts';
import type {
  DeniedChange,
  DiffTotals,
  EdgeChange,
  EdgeRef,
  ExternalChange,
  HttpChange,
  KafkaChange,
  NamespaceDiffTotals,
  NamespaceTotals,
  PortChange,
  SnapshotBody,
  SnapshotMeta,
  SnapshotSummary,
  SnapshotTotals,
} from './types.ts';

/** The metadata of a snapshot (or of a meta object), without the body or any extra field. */
export const snapshotMeta = (s: SnapshotMeta): SnapshotMeta => ({
  id: s.id,
  takenAt: s.takenAt,
  namespaces: s.namespaces,
  trigger: s.trigger,
  mapVersion: s.mapVersion,
  totals: s.totals,
});

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const wkey = (w: WorkloadRef): string => `${w.namespace}/${w.name}`;

/** The identity of an edge across snapshots: client workload → server workload or external domain. */
export function intentKey(it: Intent): string {
  const target = it.server ? wkey(it.server) : `ext:${it.external?.domain ?? ''}`;
  return `${wkey(it.client)}>${target}`;
}

function edgeRef(it: Intent): EdgeRef {
  const r: EdgeRef = { client: it.client };
  if (it.server) r.server = it.server;
  else r.external = it.external?.domain ?? '';
  return r;
}

const emptyTotals = (): SnapshotTotals => ({
  edges: 0,
  workloads: 0,
  httpPaths: 0,
  kafkaTopics: 0,
  deniedKafka: 0,
  externals: 0,
});

/** Totals of one snapshot, overall and per client namespace. */
export function summarize(body: SnapshotBody): SnapshotSummary {
  const totals = emptyTotals();
  const perNs = new Map<string, { t: SnapshotTotals; externals: Set<string> }>();
  const ns = (name: string) => {
    let v = perNs.get(name);
    if (!v) {
      v = { t: emptyTotals(), externals: new Set() };
      perNs.set(name, v);
    }
    return v;
  };
  const workloads = new Set<string>();
  const externals = new Set<string>();
  for (const it of body.intents) {
    const n = ns(it.client.namespace);
    for (const w of it.server ? [it.client, it.server] : [it.client]) {
      const k = wkey(w);
      if (!workloads.has(k)) {
        workloads.add(k);
        ns(w.namespace).t.workloads++;
      }
    }
    const denied = it.kafka.reduce((s, k) => s + k.deniedOperations.length, 0);
    for (const t of [totals, n.t]) {
      t.edges++;
      t.httpPaths += it.http.length;
      t.kafkaTopics += it.kafka.length;
      t.deniedKafka += denied;
    }
    if (it.external) {
      externals.add(it.external.domain);
      n.externals.add(it.external.domain);
    }
  }
  for (const a of body.kafkaAcl) {
    if (a.allowed) continue;
    totals.deniedKafka++;
    ns(a.client.namespace).t.deniedKafka++;
  }
  totals.workloads = workloads.size;
  totals.externals = externals.size;
  const namespaces: NamespaceTotals[] = [...perNs.entries()]
    .sort(([a], [b]) => cmp(a, b))
    .map(([namespace, v]) => ({ namespace, ...v.t, externals: v.externals.size }));
  return { totals, namespaces };
}

type DiffLists = Omit<import('./types.ts').SnapshotDiff, 'from' | 'to'>;

const emptyDiffTotals = (): DiffTotals => ({
  newEdges: 0,
  vanishedEdges: 0,
  newPorts: 0,
  newHttp: 0,
  removedHttp: 0,
  newKafka: 0,
  removedKafka: 0,
  newDeniedKafka: 0,
  newExternals: 0,
});

/** path → methods ('' stands for "path seen without a method"). */
function httpMap(it: Intent | undefined): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const h of it?.http ?? []) m.set(h.path, new Set(h.methods));
  return m;
}

function kafkaMap(it: Intent | undefined, denied: boolean): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const k of it?.kafka ?? []) {
    const ops = denied ? k.deniedOperations : k.operations;
    if (ops.length > 0) m.set(k.topic, new Set(ops));
  }
  return m;
}

/** HTTP paths/methods present in `a` but not in `b`. */
function httpMinus(ref: EdgeRef, a: Intent, b: Intent | undefined): HttpChange[] {
  const other = httpMap(b);
  const out: HttpChange[] = [];
  for (const h of a.http) {
    const seen = other.get(h.path);
    if (!seen) {
      out.push({ ...ref, path: h.path, methods: [...h.methods], wholePath: true });
      continue;
    }
    const methods = h.methods.filter((m) => !seen.has(m));
    if (methods.length > 0) out.push({ ...ref, path: h.path, methods, wholePath: false });
  }
  return out;
}

function kafkaMinus(ref: EdgeRef, a: Intent, b: Intent | undefined): KafkaChange[] {
  const other = kafkaMap(b, false);
  const out: KafkaChange[] = [];
  for (const [topic, ops] of kafkaMap(a, false)) {
    const seen = other.get(topic);
    const fresh = [...ops].filter((o) => !seen?.has(o));
    if (fresh.length > 0) out.push({ ...ref, topic, operations: fresh });
  }
  return out;
}

interface DeniedGroup {
  ref: EdgeRef;
  resourceType: string;
  resourceName: string;
  ops: Set<string>;
}

/** Every denied decision in a body, keyed by edge + resource. */
function deniedGroups(body: SnapshotBody): Map<string, DeniedGroup> {
  const out = new Map<string, DeniedGroup>();
  const identities = new Map<string, WorkloadIdentity>();
  for (const it of body.intents) {
    identities.set(wkey(it.client), it.client);
    if (it.server) identities.set(wkey(it.server), it.server);
  }
  const add = (ref: EdgeRef, resourceType: string, resourceName: string, op: string): void => {
    const target = ref.server ? wkey(ref.server) : `ext:${ref.external ?? ''}`;
    const k = `${wkey(ref.client)}>${target}\u0000${resourceType}\u0000${resourceName}`;
    let g = out.get(k);
    if (!g) {
      g = { ref, resourceType, resourceName, ops: new Set() };
      out.set(k, g);
    }
    g.ops.add(op);
  };
  for (const it of body.intents) {
    for (const k of it.kafka) for (const op of k.deniedOperations) add(edgeRef(it), 'Topic', k.topic, op);
  }
  const ident = (r: WorkloadRef): WorkloadIdentity =>
    identities.get(wkey(r)) ?? { name: r.name, namespace: r.namespace, kind: 'Unknown' };
  for (const a of body.kafkaAcl) {
    if (a.allowed) continue;
    add({ client: ident(a.client), server: ident(a.server) }, a.resourceType, a.resourceName, a.operation);
  }
  return out;
}

function externalsOf(body: SnapshotBody): Map<string, ExternalChange> {
  const out = new Map<string, ExternalChange>();
  for (const it of body.intents) {
    if (!it.external) continue;
    let e = out.get(it.external.domain);
    if (!e) {
      e = { domain: it.external.domain, ips: [], clients: [] };
      out.set(it.external.domain, e);
    }
    for (const ip of it.external.ips) if (!e.ips.includes(ip)) e.ips.push(ip);
    if (!e.clients.some((c) => wkey(c) === wkey(it.client))) {
      e.clients.push({ name: it.client.name, namespace: it.client.namespace });
    }
  }
  for (const e of out.values()) {
    e.ips.sort();
    e.clients.sort((a, b) => cmp(wkey(a), wkey(b)));
  }
  return out;
}

/** Client namespace, client name, then the target (workloads before external domains). */
export function compareRefs(a: EdgeRef, b: EdgeRef): number {
  return (
    cmp(a.client.namespace, b.client.namespace) ||
    cmp(a.client.name, b.client.name) ||
    cmp(a.server?.namespace ?? '\uffff', b.server?.namespace ?? '\uffff') ||
    cmp(a.server?.name ?? a.external ?? '', b.server?.name ?? b.external ?? '')
  );
}

const EMPTY: SnapshotBody = { intents: [], kafkaAcl: [] };

/**
 * What changed from `from` to `to`. Everything present in `to` and absent from `from` is "new",
 * including the paths, topics and denials of brand-new edges; `from === null` means "no previous
 * snapshot", so everything in `to` is new.
 */
export function diffBodies(from: SnapshotBody | null, to: SnapshotBody): DiffLists {
  const before = from ?? EMPTY;
  const old = new Map(before.intents.map((it) => [intentKey(it), it] as const));
  const cur = new Map(to.intents.map((it) => [intentKey(it), it] as const));

  const newEdges: EdgeChange[] = [];
  const newPorts: PortChange[] = [];
  const newHttp: HttpChange[] = [];
  const newKafka: KafkaChange[] = [];
  for (const [k, it] of cur) {
    const prev = old.get(k);
    const ref = edgeRef(it);
    if (!prev) newEdges.push({ ...ref, ports: [...it.ports] });
    else {
      const known = new Set(prev.ports);
      const ports = it.ports.filter((p) => !known.has(p));
      if (ports.length > 0) newPorts.push({ ...ref, ports });
    }
    newHttp.push(...httpMinus(ref, it, prev));
    newKafka.push(...kafkaMinus(ref, it, prev));
  }

  const vanishedEdges: EdgeChange[] = [];
  const removedHttp: HttpChange[] = [];
  const removedKafka: KafkaChange[] = [];
  for (const [k, it] of old) {
    const now = cur.get(k);
    const ref = edgeRef(it);
    if (!now) vanishedEdges.push({ ...ref, ports: [...it.ports] });
    removedHttp.push(...httpMinus(ref, it, now));
    removedKafka.push(...kafkaMinus(ref, it, now));
  }

  const oldDenied = deniedGroups(before);
  const newDeniedKafka: DeniedChange[] = [];
  for (const [k, g] of deniedGroups(to)) {
    const seen = oldDenied.get(k)?.ops;
    const ops = [...g.ops].filter((o) => !seen?.has(o)).sort();
    if (ops.length > 0) {
      newDeniedKafka.push({ ...g.ref, resourceType: g.resourceType, resourceName: g.resourceName, operations: ops });
    }
  }
  newDeniedKafka.sort(
    (a, b) => compareRefs(a, b) || cmp(a.resourceType, b.resourceType) || cmp(a.resourceName, b.resourceName),
  );

  const oldExt = externalsOf(before);
  const newExternals = [...externalsOf(to).values()]
    .filter((e) => !oldExt.has(e.domain))
    .sort((a, b) => cmp(a.domain, b.domain));

  for (const l of [newEdges, vanishedEdges, newPorts]) l.sort(compareRefs);
  for (const l of [newHttp, removedHttp]) l.sort((a, b) => compareRefs(a, b) || cmp(a.path, b.path));
  for (const l of [newKafka, removedKafka]) l.sort((a, b) => compareRefs(a, b) || cmp(a.topic, b.topic));

  const lists = {
    newEdges,
    vanishedEdges,
    newPorts,
    newHttp,
    removedHttp,
    newKafka,
    removedKafka,
    newDeniedKafka,
    newExternals,
  };

  const totals = emptyDiffTotals();
  const perNs = new Map<string, DiffTotals>();
  const bump = (field: keyof DiffTotals, namespace: string): void => {
    let t = perNs.get(namespace);
    if (!t) {
      t = emptyDiffTotals();
      perNs.set(namespace, t);
    }
    t[field]++;
  };
  for (const field of Object.keys(lists) as Array<keyof typeof lists>) {
    if (field === 'newExternals') continue;
    totals[field] = lists[field].length;
    for (const item of lists[field]) bump(field, item.client.namespace);
  }
  // A new domain counts once in the totals and once for each client namespace that reaches it.
  totals.newExternals = newExternals.length;
  for (const e of newExternals) {
    for (const namespace of new Set(e.clients.map((c) => c.namespace))) bump('newExternals', namespace);
  }
  const namespaces: NamespaceDiffTotals[] = [...perNs.entries()]
    .sort(([a], [b]) => cmp(a, b))
    .map(([namespace, t]) => ({ namespace, ...t }));
  return { totals, namespaces, ...lists };
}

/** True when the diff has no change at all. */
export function isEmptyDiff(t: DiffTotals): boolean {
  return Object.values(t).every((n) => n === 0);
}
