/**
 * In-memory indexes of the cluster objects identity resolution needs, fed by informers.
 *
 * Pure: no I/O, no timers, no clock. Every mutation takes the observation time (`now`, ms) from the
 * caller, so tests drive it with objects built in the test. Objects are read defensively (they
 * arrive as raw watch JSON or as client-node typed objects whose timestamps are `Date`s); an object
 * without the fields we need is skipped and counted in `skipped`.
 */

/** The kinds the state understands (and the informers watch). */
export const STATE_KINDS = [
  'Pod',
  'Service',
  'EndpointSlice',
  'Endpoints',
  'Node',
  'ReplicaSet',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
] as const;
export type StateKind = (typeof STATE_KINDS)[number];

/** Kinds kept only so the owner chain of a pod can be crawled to its root. */
export const OWNER_KINDS = ['ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'] as const;
export type OwnerKind = (typeof OWNER_KINDS)[number];

export const EVENT_TYPES = ['ADDED', 'MODIFIED', 'DELETED'] as const;
export type StateEventType = (typeof EVENT_TYPES)[number];

export interface ClusterStateOptions {
  /** How long a deleted pod's IP interval is remembered (ms). Default 10 minutes. */
  deletedPodRetentionMs?: number;
  /** At most this many deleted pods are remembered (oldest forgotten first). Default 10,000. */
  maxDeletedPods?: number;
  /**
   * Annotation keys kept on pods and owners (the rest is dropped as objects arrive). Default: the
   * workload-name overrides (`callmap.io/workload-name`, `intents.otterize.com/service-name`);
   * `KubeResolver` adds its configured override annotation.
   */
  annotationKeys?: readonly string[];
}

/** Otterize's workload-name override annotation, honoured for compatibility. */
export const OTTERIZE_SERVICE_NAME_ANNOTATION = 'intents.otterize.com/service-name';
/** callmap's own override annotation (the name is configurable). */
export const DEFAULT_OVERRIDE_ANNOTATION = 'callmap.io/workload-name';

export interface ControllerRef {
  kind: string;
  name: string;
}

export interface PodRecord {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name` */
  readonly key: string;
  /** Shared (same object) with the controller owner's labels when equal, as most pods' are. */
  labels: Readonly<Record<string, string>>;
  /** Only the kept keys (`ClusterStateOptions.annotationKeys`): usually the shared empty map. */
  annotations: Readonly<Record<string, string>>;
  controller: ControllerRef | undefined;
  hostNetwork: boolean;
  hostname: string | undefined;
  subdomain: string | undefined;
  ips: readonly string[];
  createdAt: number;
  /** When the pod stopped holding its IPs: Infinity while it runs. */
  endAt: number;
  deleted: boolean;
  /** Free slot for the resolver's cached resolution (invalidated by setting it to undefined). */
  cache: unknown;
  /** Owner epoch the cache was computed at; -1 = frozen (deleted pods keep their last identity). */
  cacheEpoch: number;
}

export interface IpSpan {
  readonly pod: PodRecord;
  readonly from: number;
  to: number;
}

export interface ServiceRecord {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  labels: Readonly<Record<string, string>>;
  clusterIPs: readonly string[];
  headless: boolean;
  createdAt: number;
  cache: unknown;
  cacheEpoch: number;
}

export interface EndpointTarget {
  readonly ip: string;
  /** Pod named by targetRef, when the endpoint points at a pod. */
  readonly podName: string | undefined;
  readonly hostname: string | undefined;
  readonly ready: boolean;
}

export interface OwnerRecord {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** Shared with its own controller owner's labels when equal. */
  labels: Readonly<Record<string, string>>;
  /** Only the kept keys (`ClusterStateOptions.annotationKeys`). */
  annotations: Readonly<Record<string, string>>;
  controller: ControllerRef | undefined;
}

export interface ClusterStateCounts {
  pods: number;
  deletedPodsRemembered: number;
  podIps: number;
  services: number;
  nodes: number;
  owners: number;
  endpointSets: number;
  skipped: number;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** Milliseconds from a Date, an RFC 3339 string or a number; NaN when absent or unparseable. */
export function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v !== '') return Date.parse(v);
  if (typeof v === 'number') return v;
  return Number.NaN;
}

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function stringMap(v: unknown): Readonly<Record<string, string>> {
  const r = rec(v);
  if (r === undefined) return EMPTY;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, val] of Object.entries(r)) {
    if (typeof val === 'string') {
      out[k] = val;
      n++;
    }
  }
  return n === 0 ? EMPTY : Object.freeze(out);
}

/** Only the `keys` of a string map (usually none: the shared empty map). */
function pickMap(v: unknown, keys: ReadonlySet<string>): Readonly<Record<string, string>> {
  const r = rec(v);
  if (r === undefined) return EMPTY;
  let out: Record<string, string> | undefined;
  for (const k of keys) {
    const val = r[k];
    if (typeof val === 'string') {
      out ??= {};
      out[k] = val;
    }
  }
  return out === undefined ? EMPTY : Object.freeze(out);
}

/** The controller ownerReference (kind interned: a handful of distinct values). */
function controllerOf(meta: Record<string, unknown>, intern: (s: string) => string): ControllerRef | undefined {
  const refs = meta['ownerReferences'];
  if (!Array.isArray(refs)) return undefined;
  for (const r of refs) {
    const o = rec(r);
    if (o !== undefined && o['controller'] === true) {
      const kind = str(o['kind']);
      const name = str(o['name']);
      if (kind !== undefined && name !== undefined) return { kind: intern(kind), name };
    }
  }
  return undefined;
}

function sameController(a: ControllerRef | undefined, b: ControllerRef | undefined): boolean {
  return a?.kind === b?.kind && a?.name === b?.name;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameMap(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

interface Meta {
  m: Record<string, unknown>;
  name: string;
  namespace: string;
  uid: string;
}

function metaOf(obj: unknown, namespaced: boolean, intern?: (s: string) => string): Meta | undefined {
  const m = rec(rec(obj)?.['metadata']);
  if (m === undefined) return undefined;
  const name = str(m['name']);
  if (name === undefined) return undefined;
  const ns = str(m['namespace']) ?? '';
  const namespace = intern === undefined ? ns : intern(ns);
  if (namespaced && namespace === '') return undefined;
  const uid = str(m['uid']) ?? `${namespace}/${name}`;
  return { m, name, namespace, uid };
}

/** Time the pod's containers stopped, for pods in a terminal phase (they keep `podIP` in status). */
function terminalTime(status: Record<string, unknown>, now: number): number {
  const phase = status['phase'];
  if (phase !== 'Succeeded' && phase !== 'Failed') return Number.POSITIVE_INFINITY;
  let latest = Number.NaN;
  const lists = [status['containerStatuses'], status['initContainerStatuses']];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const cs of list) {
      const fin = toMs(rec(rec(rec(cs)?.['state'])?.['terminated'])?.['finishedAt']);
      if (!Number.isNaN(fin) && !(fin <= latest)) latest = fin;
    }
  }
  return Number.isNaN(latest) ? now : latest;
}

function podIpsOf(status: Record<string, unknown>): string[] {
  const out: string[] = [];
  const list = status['podIPs'];
  if (Array.isArray(list)) {
    for (const e of list) {
      const ip = str(rec(e)?.['ip']);
      if (ip !== undefined && !out.includes(ip)) out.push(ip);
    }
  }
  const single = str(status['podIP']);
  if (single !== undefined && !out.includes(single)) out.unshift(single);
  return out;
}

export class ClusterState {
  /** Current (not yet deleted) pods. */
  readonly podsByUid = new Map<string, PodRecord>();
  readonly podsByKey = new Map<string, PodRecord>();
  /** Deleted pods still remembered, by `namespace/name` (newest last). */
  readonly deletedPodsByKey = new Map<string, PodRecord[]>();
  /** Every pod IP interval we remember, current and deleted pods. */
  readonly spansByIp = new Map<string, IpSpan[]>();
  /** Pods by `namespace/subdomain/hostname` (headless service DNS). */
  readonly podsByHostname = new Map<string, PodRecord>();
  readonly servicesByKey = new Map<string, ServiceRecord>();
  readonly servicesByIp = new Map<string, ServiceRecord>();
  /** serviceKey → source (slice name / 'endpoints') → targets. */
  readonly endpointsByService = new Map<string, Map<string, readonly EndpointTarget[]>>();
  readonly nodeIps = new Map<string, string>();
  /** IPs reported by hostNetwork pods (node IPs even when Node objects are not visible): ip → pod count. */
  readonly hostNetworkIps = new Map<string, number>();
  readonly owners = new Map<string, Map<string, OwnerRecord>>();
  /** Bumped when any owner object changes its identity-relevant shape. */
  ownerEpoch = 0;
  /** Bumped when anything a Service's resolution depends on changes (pods, endpoints, services, owners). */
  identityEpoch = 0;
  skipped = 0;
  /** Called when a pod moves to the deleted history (the resolver freezes its identity here). */
  onPodRetired: ((pod: PodRecord) => void) | undefined;

  private readonly retentionMs: number;
  private readonly maxDeleted: number;
  private readonly deletedQueue: PodRecord[] = [];
  private deletedHead = 0;
  private readonly nodesByName = new Map<string, readonly string[]>();
  private readonly endpointSourceOwner = new Map<string, string>();
  private readonly annotationKeys: Set<string>;
  /** Namespaces and controller kinds: few distinct values, one string each instead of one per object. */
  private readonly interned = new Map<string, string>();

  constructor(options: ClusterStateOptions = {}) {
    this.retentionMs = options.deletedPodRetentionMs ?? 10 * 60_000;
    this.maxDeleted = options.maxDeletedPods ?? 10_000;
    this.annotationKeys = new Set(
      options.annotationKeys ?? [DEFAULT_OVERRIDE_ANNOTATION, OTTERIZE_SERVICE_NAME_ANNOTATION],
    );
  }

  /**
   * Keep `key` on pods and owners from now on. Objects already applied have dropped it, so this
   * throws (a wiring bug) when the key is new and the state is not empty.
   */
  keepAnnotation(key: string): void {
    if (this.annotationKeys.has(key)) return;
    if (this.podsByUid.size > 0 || this.deletedQueue.length > this.deletedHead || this.owners.size > 0)
      throw new Error(`ClusterState: annotation ${key} must be kept before objects are applied (annotationKeys)`);
    this.annotationKeys.add(key);
  }

  private readonly intern = (v: string): string => {
    const hit = this.interned.get(v);
    if (hit !== undefined) return hit;
    // Bounded: a cluster has far fewer namespaces and kinds; past this, strings are just not shared.
    if (this.interned.size < 100_000) this.interned.set(v, v);
    return v;
  };

  /**
   * `labels`, or the labels object of the owner named by `controller` when equal (pods carry their
   * ReplicaSet's labels, so the pods of one ReplicaSet share one frozen map).
   */
  private shareLabels(
    labels: Readonly<Record<string, string>>,
    namespace: string,
    controller: ControllerRef | undefined,
  ): Readonly<Record<string, string>> {
    if (labels === EMPTY || controller === undefined) return labels;
    const o = this.owner(controller.kind, namespace, controller.name);
    return o !== undefined && sameMap(o.labels, labels) ? o.labels : labels;
  }

  /**
   * The part of a raw object (watch JSON or list item) that `apply`/`replace` read, in the same
   * shape: metadata (name, namespace, uid, resourceVersion, timestamps, labels, the kept
   * annotations, the controller ownerReference) and the few spec/status fields of each kind. The
   * list+watch sources call it as objects arrive, so a list never holds every page's full objects.
   * Applying `trim(o)` or `o` gives the same state (a property test checks it).
   */
  trim(kind: StateKind, obj: unknown): unknown {
    const o = rec(obj);
    const m = rec(o?.['metadata']);
    if (o === undefined || m === undefined) return obj;
    const meta: Record<string, unknown> = {};
    for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp'])
      if (m[k] !== undefined) meta[k] = m[k];
    if (kind === 'EndpointSlice') {
      const svc = rec(m['labels'])?.['kubernetes.io/service-name'];
      if (svc !== undefined) meta['labels'] = { 'kubernetes.io/service-name': svc };
    } else if (kind !== 'Endpoints' && kind !== 'Node' && m['labels'] !== undefined) meta['labels'] = m['labels'];
    if (kind === 'Pod' || (OWNER_KINDS as readonly string[]).includes(kind)) {
      const ann = pickMap(m['annotations'], this.annotationKeys);
      if (ann !== EMPTY) meta['annotations'] = ann;
      const refs = m['ownerReferences'];
      if (Array.isArray(refs)) {
        const ctl = refs.filter((r) => rec(r)?.['controller'] === true);
        if (ctl.length > 0)
          meta['ownerReferences'] = ctl.map((r) => ({ kind: r.kind, name: r.name, controller: true }));
      }
    }
    const out: Record<string, unknown> = { metadata: meta };
    const spec = rec(o['spec']);
    const status = rec(o['status']);
    const pick = (from: Record<string, unknown> | undefined, keys: readonly string[]) => {
      if (from === undefined) return undefined;
      const r: Record<string, unknown> = {};
      for (const k of keys) if (from[k] !== undefined) r[k] = from[k];
      return r;
    };
    switch (kind) {
      case 'Pod': {
        out['spec'] = pick(spec, ['hostNetwork', 'hostname', 'subdomain']);
        const st = pick(status, ['phase', 'podIP', 'podIPs']);
        if (st !== undefined && (st['phase'] === 'Succeeded' || st['phase'] === 'Failed')) {
          // Only the terminal phases read the containers' finish times.
          for (const k of ['containerStatuses', 'initContainerStatuses']) {
            const list = status?.[k];
            if (Array.isArray(list))
              st[k] = list.map((cs) => {
                const fin = rec(rec(rec(cs)?.['state'])?.['terminated'])?.['finishedAt'];
                return fin === undefined ? {} : { state: { terminated: { finishedAt: fin } } };
              });
          }
        }
        out['status'] = st;
        break;
      }
      case 'Service':
        out['spec'] = pick(spec, ['clusterIP', 'clusterIPs']);
        break;
      case 'Node': {
        const addrs = status?.['addresses'];
        if (Array.isArray(addrs)) out['status'] = { addresses: addrs };
        break;
      }
      case 'EndpointSlice':
      case 'Endpoints':
        for (const k of ['endpoints', 'subsets']) if (o[k] !== undefined) out[k] = o[k];
        break;
      default:
    }
    return out;
  }

  /** Apply one watch event. */
  apply(kind: StateKind, type: StateEventType, obj: unknown, now: number): void {
    switch (kind) {
      case 'Pod':
        if (type === 'DELETED') this.deletePod(obj, now);
        else this.upsertPod(obj, now);
        break;
      case 'Service':
        if (type === 'DELETED') this.deleteService(obj);
        else this.upsertService(obj);
        break;
      case 'EndpointSlice':
      case 'Endpoints':
        this.applyEndpoints(kind, type === 'DELETED', obj);
        break;
      case 'Node':
        this.applyNode(type === 'DELETED', obj);
        break;
      default:
        this.applyOwner(kind, type === 'DELETED', obj);
    }
    this.prune(now);
  }

  /**
   * Replace everything of `kind` with a fresh list (initial sync or relist after 410): objects
   * missing from the list are deleted as of `now`; the others are upserted.
   */
  replace(kind: StateKind, items: readonly unknown[], now: number): void {
    const seen = new Set<string>();
    const namespaced = kind !== 'Node';
    for (const item of items) {
      const meta = metaOf(item, namespaced);
      if (meta === undefined) {
        this.skipped++;
        continue;
      }
      seen.add(kind === 'Pod' ? meta.uid : `${meta.namespace}/${meta.name}`);
      this.apply(kind, 'ADDED', item, now);
    }
    const gone = (ns: string, name: string, uid?: string): unknown => ({ metadata: { namespace: ns, name, uid } });
    switch (kind) {
      case 'Pod':
        for (const p of [...this.podsByUid.values()])
          if (!seen.has(p.uid)) this.deletePod(gone(p.namespace, p.name, p.uid), now);
        break;
      case 'Service':
        for (const s of [...this.servicesByKey.values()])
          if (!seen.has(s.key)) this.deleteService(gone(s.namespace, s.name));
        break;
      case 'Node':
        for (const name of [...this.nodesByName.keys()])
          if (!seen.has(`/${name}`)) this.applyNode(true, gone('', name));
        break;
      case 'EndpointSlice':
      case 'Endpoints':
        for (const [src, svcKey] of [...this.endpointSourceOwner]) {
          if (!src.startsWith(`${kind}:`)) continue;
          const key = src.slice(kind.length + 1);
          if (seen.has(key)) continue;
          this.endpointSourceOwner.delete(src);
          const m = this.endpointsByService.get(svcKey);
          m?.delete(src);
          if (m?.size === 0) this.endpointsByService.delete(svcKey);
          this.identityEpoch++;
        }
        break;
      default: {
        const m = this.owners.get(kind);
        if (m === undefined) break;
        for (const [key, o] of [...m]) if (!seen.has(key)) this.applyOwner(kind, true, gone(o.namespace, o.name));
      }
    }
    this.prune(now);
  }

  counts(): ClusterStateCounts {
    let owners = 0;
    for (const m of this.owners.values()) owners += m.size;
    return {
      pods: this.podsByUid.size,
      deletedPodsRemembered: this.deletedQueue.length - this.deletedHead,
      podIps: this.spansByIp.size,
      services: this.servicesByKey.size,
      nodes: this.nodesByName.size,
      owners,
      endpointSets: this.endpointSourceOwner.size,
      skipped: this.skipped,
    };
  }

  owner(kind: string, namespace: string, name: string): OwnerRecord | undefined {
    return this.owners.get(kind)?.get(`${namespace}/${name}`);
  }

  /** Endpoint targets of a service (all sources merged). */
  endpointTargets(serviceKey: string): EndpointTarget[] {
    const m = this.endpointsByService.get(serviceKey);
    if (m === undefined) return [];
    const out: EndpointTarget[] = [];
    for (const list of m.values()) for (const t of list) out.push(t);
    return out;
  }

  isHostIp(ip: string): boolean {
    return this.nodeIps.has(ip) || this.hostNetworkIps.has(ip);
  }

  // ---- pods ----

  private upsertPod(obj: unknown, now: number): void {
    const meta = metaOf(obj, true, this.intern);
    const o = rec(obj);
    if (meta === undefined || o === undefined) {
      this.skipped++;
      return;
    }
    const spec = rec(o['spec']) ?? {};
    const status = rec(o['status']) ?? {};
    const created = toMs(meta.m['creationTimestamp']);
    const createdAt = Number.isNaN(created) ? now : created;
    const delTs = toMs(meta.m['deletionTimestamp']);
    let endAt = terminalTime(status, now);
    if (!Number.isNaN(delTs) && delTs < endAt) endAt = delTs;
    const hostNetwork = spec['hostNetwork'] === true;
    const ips = podIpsOf(status);
    const controller = controllerOf(meta.m, this.intern);
    const labels = this.shareLabels(stringMap(meta.m['labels']), meta.namespace, controller);
    const annotations = pickMap(meta.m['annotations'], this.annotationKeys);
    const hostname = str(spec['hostname']);
    const subdomain = str(spec['subdomain']);

    const key = `${meta.namespace}/${meta.name}`;
    // A different pod with the same name (StatefulSet recreate) replaces the old one.
    const sameName = this.podsByKey.get(key);
    if (sameName !== undefined && sameName.uid !== meta.uid) this.retirePod(sameName, now);

    let p = this.podsByUid.get(meta.uid);
    if (p === undefined) {
      p = {
        uid: meta.uid,
        namespace: meta.namespace,
        name: meta.name,
        key,
        labels,
        annotations,
        controller,
        hostNetwork,
        hostname,
        subdomain,
        ips: [],
        createdAt,
        endAt,
        deleted: false,
        cache: undefined,
        cacheEpoch: 0,
      };
      this.podsByUid.set(p.uid, p);
      this.podsByKey.set(key, p);
      this.setPodIps(p, ips, createdAt, now);
      this.indexHostname(p, true);
      this.identityEpoch++;
      return;
    }
    if (
      !sameMap(p.labels, labels) ||
      !sameMap(p.annotations, annotations) ||
      !sameController(p.controller, controller)
    ) {
      p.labels = labels;
      p.annotations = annotations;
      p.controller = controller;
      p.cache = undefined;
      this.identityEpoch++;
    }
    if (p.hostname !== hostname || p.subdomain !== subdomain) {
      this.indexHostname(p, false);
      p.hostname = hostname;
      p.subdomain = subdomain;
      this.indexHostname(p, true);
    }
    if (p.hostNetwork !== hostNetwork) {
      this.setPodIps(p, [], createdAt, now);
      p.hostNetwork = hostNetwork;
    }
    // A pod's IPs are assigned after creation: the first IPs count from creation time, a change
    // of IPs during the pod's life (sandbox recreated) counts from now.
    this.setPodIps(p, ips, p.ips.length === 0 ? p.createdAt : now, now);
    if (endAt !== p.endAt) {
      p.endAt = endAt;
      this.closeSpans(p, endAt);
      this.identityEpoch++;
    }
  }

  private deletePod(obj: unknown, now: number): void {
    const meta = metaOf(obj, true);
    if (meta === undefined) {
      this.skipped++;
      return;
    }
    let p = this.podsByUid.get(meta.uid);
    if (p === undefined && str(meta.m['uid']) === undefined) p = this.podsByKey.get(`${meta.namespace}/${meta.name}`);
    if (p === undefined) return;
    // The final state may carry IPs / deletionTimestamp we did not see yet.
    if (rec(obj)?.['status'] !== undefined) this.upsertPod(obj, now);
    this.retirePod(p, now);
  }

  /** Move a pod to the deleted history: its intervals end at min(endAt, now). */
  private retirePod(p: PodRecord, now: number): void {
    if (p.deleted) return;
    p.deleted = true;
    if (now < p.endAt) p.endAt = now;
    this.closeSpans(p, p.endAt);
    this.podsByUid.delete(p.uid);
    if (this.podsByKey.get(p.key) === p) this.podsByKey.delete(p.key);
    this.indexHostname(p, false);
    if (p.hostNetwork) this.unindexHostIps(p);
    if (p.ips.length > 0 && !p.hostNetwork) {
      const list = this.deletedPodsByKey.get(p.key);
      if (list === undefined) this.deletedPodsByKey.set(p.key, [p]);
      else list.push(p);
      this.deletedQueue.push(p);
      // Freeze the identity the pod had while its owners are still known.
      this.onPodRetired?.(p);
    }
    this.identityEpoch++;
  }

  private setPodIps(p: PodRecord, ips: readonly string[], from: number, now: number): void {
    if (sameStrings(p.ips, ips)) return;
    if (p.hostNetwork) {
      this.unindexHostIps(p);
      p.ips = ips;
      for (const ip of ips) this.hostNetworkIps.set(ip, (this.hostNetworkIps.get(ip) ?? 0) + 1);
      return;
    }
    for (const ip of p.ips) {
      if (ips.includes(ip)) continue;
      const spans = this.spansByIp.get(ip);
      if (spans === undefined) continue;
      for (const s of spans) if (s.pod === p && s.to > now) s.to = now;
    }
    for (const ip of ips) {
      if (p.ips.includes(ip)) continue;
      const span: IpSpan = { pod: p, from, to: p.endAt };
      const spans = this.spansByIp.get(ip);
      if (spans === undefined) this.spansByIp.set(ip, [span]);
      else spans.push(span);
    }
    p.ips = ips;
    this.identityEpoch++;
  }

  private unindexHostIps(p: PodRecord): void {
    for (const ip of p.ips) {
      const n = (this.hostNetworkIps.get(ip) ?? 1) - 1;
      if (n <= 0) this.hostNetworkIps.delete(ip);
      else this.hostNetworkIps.set(ip, n);
    }
  }

  private closeSpans(p: PodRecord, endAt: number): void {
    if (p.hostNetwork) return;
    for (const ip of p.ips) {
      const spans = this.spansByIp.get(ip);
      if (spans === undefined) continue;
      for (const s of spans) if (s.pod === p && s.to > endAt) s.to = endAt;
    }
  }

  private indexHostname(p: PodRecord, add: boolean): void {
    if (p.hostname === undefined || p.subdomain === undefined) return;
    const key = `${p.namespace}/${p.subdomain}/${p.hostname}`;
    if (add) this.podsByHostname.set(key, p);
    else if (this.podsByHostname.get(key) === p) this.podsByHostname.delete(key);
  }

  /** Forget deleted pods older than the retention window or beyond the count limit. */
  private prune(now: number): void {
    const q = this.deletedQueue;
    while (this.deletedHead < q.length) {
      const p = q[this.deletedHead]!;
      const live = q.length - this.deletedHead;
      if (live <= this.maxDeleted && p.endAt >= now - this.retentionMs) break;
      this.deletedHead++;
      this.forget(p);
    }
    if (this.deletedHead > 1024 && this.deletedHead * 2 > q.length) {
      q.splice(0, this.deletedHead);
      this.deletedHead = 0;
    }
  }

  private forget(p: PodRecord): void {
    for (const ip of p.ips) {
      const spans = this.spansByIp.get(ip);
      if (spans === undefined) continue;
      const kept = spans.filter((s) => s.pod !== p);
      if (kept.length === 0) this.spansByIp.delete(ip);
      else this.spansByIp.set(ip, kept);
    }
    const list = this.deletedPodsByKey.get(p.key);
    if (list !== undefined) {
      const kept = list.filter((x) => x !== p);
      if (kept.length === 0) this.deletedPodsByKey.delete(p.key);
      else this.deletedPodsByKey.set(p.key, kept);
    }
  }

  // ---- services & endpoints ----

  private upsertService(obj: unknown): void {
    const meta = metaOf(obj, true, this.intern);
    const o = rec(obj);
    if (meta === undefined || o === undefined) {
      this.skipped++;
      return;
    }
    const spec = rec(o['spec']) ?? {};
    const ips: string[] = [];
    const list = spec['clusterIPs'];
    if (Array.isArray(list)) for (const ip of list) if (typeof ip === 'string' && ip !== 'None') ips.push(ip);
    const single = str(spec['clusterIP']);
    if (single !== undefined && single !== 'None' && !ips.includes(single)) ips.unshift(single);
    const key = `${meta.namespace}/${meta.name}`;
    const created = toMs(meta.m['creationTimestamp']);
    const prev = this.servicesByKey.get(key);
    if (prev !== undefined)
      for (const ip of prev.clusterIPs) if (this.servicesByIp.get(ip) === prev) this.servicesByIp.delete(ip);
    const s: ServiceRecord = {
      namespace: meta.namespace,
      name: meta.name,
      key,
      labels: stringMap(meta.m['labels']),
      clusterIPs: ips,
      headless: single === 'None',
      createdAt: Number.isNaN(created) ? Number.NEGATIVE_INFINITY : created,
      cache: undefined,
      cacheEpoch: -1,
    };
    this.servicesByKey.set(key, s);
    for (const ip of ips) this.servicesByIp.set(ip, s);
    this.identityEpoch++;
  }

  private deleteService(obj: unknown): void {
    const meta = metaOf(obj, true);
    if (meta === undefined) {
      this.skipped++;
      return;
    }
    const key = `${meta.namespace}/${meta.name}`;
    const s = this.servicesByKey.get(key);
    if (s === undefined) return;
    this.servicesByKey.delete(key);
    for (const ip of s.clusterIPs) if (this.servicesByIp.get(ip) === s) this.servicesByIp.delete(ip);
    this.identityEpoch++;
  }

  private applyEndpoints(kind: 'EndpointSlice' | 'Endpoints', deleted: boolean, obj: unknown): void {
    const meta = metaOf(obj, true);
    const o = rec(obj);
    if (meta === undefined || o === undefined) {
      this.skipped++;
      return;
    }
    const src = `${kind}:${meta.namespace}/${meta.name}`;
    let serviceName: string | undefined = meta.name;
    if (kind === 'EndpointSlice') serviceName = str(rec(meta.m['labels'])?.['kubernetes.io/service-name']);
    const prevSvc = this.endpointSourceOwner.get(src);
    if (prevSvc !== undefined) {
      const m = this.endpointsByService.get(prevSvc);
      m?.delete(src);
      if (m?.size === 0) this.endpointsByService.delete(prevSvc);
      this.endpointSourceOwner.delete(src);
    }
    this.identityEpoch++;
    if (deleted || serviceName === undefined) return;
    const targets = kind === 'EndpointSlice' ? sliceTargets(o, meta.namespace) : endpointsTargets(o, meta.namespace);
    const svcKey = `${meta.namespace}/${serviceName}`;
    let m = this.endpointsByService.get(svcKey);
    if (m === undefined) {
      m = new Map();
      this.endpointsByService.set(svcKey, m);
    }
    m.set(src, targets);
    this.endpointSourceOwner.set(src, svcKey);
  }

  // ---- nodes ----

  private applyNode(deleted: boolean, obj: unknown): void {
    const meta = metaOf(obj, false);
    if (meta === undefined) {
      this.skipped++;
      return;
    }
    const prev = this.nodesByName.get(meta.name);
    if (prev !== undefined) for (const ip of prev) if (this.nodeIps.get(ip) === meta.name) this.nodeIps.delete(ip);
    this.nodesByName.delete(meta.name);
    if (deleted) return;
    const ips: string[] = [];
    const addrs = rec(rec(obj)?.['status'])?.['addresses'];
    if (Array.isArray(addrs)) {
      for (const a of addrs) {
        const r = rec(a);
        const t = r?.['type'];
        const ip = str(r?.['address']);
        if (ip !== undefined && (t === 'InternalIP' || t === 'ExternalIP') && !ips.includes(ip)) ips.push(ip);
      }
    }
    this.nodesByName.set(meta.name, ips);
    for (const ip of ips) this.nodeIps.set(ip, meta.name);
  }

  // ---- owners ----

  private applyOwner(kind: string, deleted: boolean, obj: unknown): void {
    const meta = metaOf(obj, true, this.intern);
    if (meta === undefined) {
      this.skipped++;
      return;
    }
    let m = this.owners.get(kind);
    if (m === undefined) {
      m = new Map();
      this.owners.set(kind, m);
    }
    const key = `${meta.namespace}/${meta.name}`;
    if (deleted) {
      if (m.delete(key)) this.bumpOwners();
      return;
    }
    const controller = controllerOf(meta.m, this.intern);
    const labels = stringMap(meta.m['labels']);
    const annotations = pickMap(meta.m['annotations'], this.annotationKeys);
    const prev = m.get(key);
    // Status-only updates (most owner events) change nothing identity depends on.
    if (
      prev !== undefined &&
      sameMap(prev.labels, labels) &&
      sameMap(prev.annotations, annotations) &&
      sameController(prev.controller, controller)
    )
      return;
    m.set(key, {
      kind,
      namespace: meta.namespace,
      name: meta.name,
      labels: this.shareLabels(labels, meta.namespace, controller),
      annotations,
      controller,
    });
    this.bumpOwners();
  }

  private bumpOwners(): void {
    this.ownerEpoch++;
    this.identityEpoch++;
  }
}

function sliceTargets(o: Record<string, unknown>, namespace: string): EndpointTarget[] {
  const out: EndpointTarget[] = [];
  const eps = o['endpoints'];
  if (!Array.isArray(eps)) return out;
  for (const e of eps) {
    const r = rec(e);
    if (r === undefined) continue;
    const ref = rec(r['targetRef']);
    const podName =
      ref !== undefined && ref['kind'] === 'Pod' && (str(ref['namespace']) ?? namespace) === namespace
        ? str(ref['name'])
        : undefined;
    const ready = rec(r['conditions'])?.['ready'] !== false;
    const hostname = str(r['hostname']);
    const addrs = r['addresses'];
    if (!Array.isArray(addrs)) continue;
    for (const a of addrs) if (typeof a === 'string' && a !== '') out.push({ ip: a, podName, hostname, ready });
  }
  return out;
}

function endpointsTargets(o: Record<string, unknown>, namespace: string): EndpointTarget[] {
  const out: EndpointTarget[] = [];
  const subsets = o['subsets'];
  if (!Array.isArray(subsets)) return out;
  for (const s of subsets) {
    const r = rec(s);
    if (r === undefined) continue;
    for (const [field, ready] of [
      ['addresses', true],
      ['notReadyAddresses', false],
    ] as const) {
      const list = r[field];
      if (!Array.isArray(list)) continue;
      for (const a of list) {
        const ar = rec(a);
        const ip = str(ar?.['ip']);
        if (ar === undefined || ip === undefined) continue;
        const ref = rec(ar['targetRef']);
        const podName =
          ref !== undefined && ref['kind'] === 'Pod' && (str(ref['namespace']) ?? namespace) === namespace
            ? str(ref['name'])
            : undefined;
        out.push({ ip, podName, hostname: str(ar['hostname']), ready });
      }
    }
  }
  return out;
}
