/**
 * The real `Resolver`. `KubeResolver` answers identity questions from a `ClusterState` and is pure
 * (no I/O, no clock); `createKubeResolver` wires it to resilient informers over client-node.
 *
 * Hot path: `resolveIp` is two Map lookups and a short loop over the intervals one IP had; the
 * returned `Resolution` objects are cached per pod / per service, shared and frozen — callers must
 * not mutate them.
 */
import type { WorkloadIdentity, WorkloadRef } from '../contract/index.ts';
import {
  ClusterState,
  type ClusterStateCounts,
  type ClusterStateOptions,
  DEFAULT_OVERRIDE_ANNOTATION,
  type IpSpan,
  OTTERIZE_SERVICE_NAME_ANNOTATION,
  type PodRecord,
  type ServiceRecord,
  type StateKind,
} from './cluster-state.ts';
import { type InformerOptions, type InformerStats, type ListWatchSource, ResilientInformer } from './informer.ts';
import { type KubeconfigSource, KubeSources, loadKubeConfig } from './sources.ts';
import {
  type Resolution,
  type Resolver,
  type ResolverStats,
  UNRESOLVED_REASONS,
  type UnresolvedReason,
} from './types.ts';

export { DEFAULT_OVERRIDE_ANNOTATION, OTTERIZE_SERVICE_NAME_ANNOTATION };
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const DEFAULT_SKEW_MS = 2000;

export interface KubeResolverOptions {
  /** Cluster DNS domain. Default `cluster.local`. */
  clusterDomain?: string;
  /** Pod/root annotation whose value replaces the workload name (wins over Otterize's). */
  overrideAnnotation?: string;
  /** Clock skew tolerated between the observer and the API server (ms). Default 2000. */
  skewMs?: number;
  /** Readiness of whatever feeds the state (informers). Default: always ready. */
  ready?: () => boolean;
}

/** Root kinds tried (in this order) when Istio names a workload that has no pods right now. */
const ROOT_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet'] as const;

function unresolved(reason: UnresolvedReason): Resolution {
  return Object.freeze({ ok: false as const, reason });
}
const UNRESOLVED: Readonly<Record<UnresolvedReason, Resolution>> = Object.freeze({
  'unknown-ip': unresolved('unknown-ip'),
  'host-network': unresolved('host-network'),
  'not-alive-at-time': unresolved('not-alive-at-time'),
  ambiguous: unresolved('ambiguous'),
  'unknown-name': unresolved('unknown-name'),
  'unknown-pod': unresolved('unknown-pod'),
});

/** Another spelling of the same address to retry with on a miss (IPv4-mapped IPv6, non-canonical IPv6). */
export function alternateIp(ip: string): string | undefined {
  if (ip.length > 7 && ip.slice(0, 7).toLowerCase() === '::ffff:' && ip.includes('.')) return ip.slice(7);
  if (!ip.includes(':')) return undefined;
  try {
    const host = new URL(`http://[${ip}]/`).hostname;
    const canon = host.slice(1, -1);
    return canon !== ip ? canon : undefined;
  } catch {
    return undefined;
  }
}

/** `10-1-2-3` → `10.1.2.3`; `fd00-10--5` → `fd00:10::5`; undefined when not an address. */
export function undashIp(label: string): string | undefined {
  const v4 = label.replaceAll('-', '.');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v4) && v4.split('.').every((o) => Number(o) <= 255)) return v4;
  if (!/^[0-9a-f-]+$/.test(label) || !label.includes('-')) return undefined;
  const v6 = label.replaceAll('-', ':');
  try {
    return new URL(`http://[${v6}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

export class KubeResolver implements Resolver {
  readonly clusterDomain: string;
  readonly overrideAnnotation: string;
  readonly skewMs: number;
  private readonly state: ClusterState;
  private readonly readyFn: () => boolean;
  private readonly domainSuffix: string;
  private readonly counters = { resolved: 0, unresolved: {} as Record<UnresolvedReason, number> };
  private workloadIndex = new Map<string, WorkloadIdentity>();
  /** Alternate spellings of missed IPs (null: none), so repeated external IPv6 misses cost one lookup. */
  private readonly altCache = new Map<string, string | null>();
  private workloadIndexEpoch = -1;

  constructor(state: ClusterState, options: KubeResolverOptions = {}) {
    this.state = state;
    this.clusterDomain = (options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).toLowerCase().replace(/^\.+|\.+$/g, '');
    this.domainSuffix = `.${this.clusterDomain}`;
    this.overrideAnnotation = options.overrideAnnotation ?? DEFAULT_OVERRIDE_ANNOTATION;
    this.skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
    this.readyFn = options.ready ?? (() => true);
    for (const r of UNRESOLVED_REASONS) this.counters.unresolved[r] = 0;
    // The state drops annotations nobody reads; it must keep ours.
    state.keepAnnotation(this.overrideAnnotation);
    state.onPodRetired = (p) => {
      // Freeze the identity while its owners are still cached (they are deleted right after).
      if (p.cacheEpoch !== state.ownerEpoch) p.cache = undefined;
      this.podResolution(p);
    };
  }

  ready(): boolean {
    return this.readyFn();
  }

  stats(): ResolverStats {
    return { resolved: this.counters.resolved, unresolved: { ...this.counters.unresolved } };
  }

  resolveIp(ip: string, at: number): Resolution {
    return this.count(this.lookupIp(ip, at, true));
  }

  resolveDnsName(name: string, ips: readonly string[], at: number, clientNamespace?: string): Resolution {
    return this.count(this.lookupName(name, ips, at, clientNamespace));
  }

  resolvePod(pod: WorkloadRef, at: number): Resolution {
    return this.count(this.lookupPod(pod, at));
  }

  isClusterName(name: string): boolean {
    const n = normalizeName(name);
    if (n === '') return false;
    if (n === this.clusterDomain || n.endsWith(this.domainSuffix)) return true;
    const dot = n.lastIndexOf('.');
    if (dot === -1) return true; // single-label names are never internet destinations
    const last = n.slice(dot + 1);
    if (last === 'svc' || last === 'pod') return true;
    const labels = n.split('.');
    return labels.length === 2 && this.state.servicesByKey.has(`${labels[1]}/${labels[0]}`);
  }

  resolveWorkloadName(ref: WorkloadRef): WorkloadIdentity {
    const key = `${ref.namespace}/${ref.name}`;
    if (this.workloadIndexEpoch !== this.state.identityEpoch) this.rebuildWorkloadIndex();
    const hit = this.workloadIndex.get(key);
    if (hit !== undefined) return hit;
    for (const kind of ROOT_KINDS) {
      const o = this.state.owner(kind, ref.namespace, ref.name);
      if (o !== undefined && o.controller === undefined) {
        return identity(ref.name, ref.namespace, kind, o.labels);
      }
    }
    return { name: ref.name, namespace: ref.namespace, kind: 'Unknown' };
  }

  // ---- internals ----

  private count(r: Resolution): Resolution {
    if (r.ok) this.counters.resolved++;
    else this.counters.unresolved[r.reason]++;
    return r;
  }

  /**
   * The span of `spans` that held the IP at `at`: exact containment first (the latest start wins:
   * a newer pod can only hold the IP once the older one let it go), then the nearest within the
   * skew. `null` when two different pods started holding it at the same instant (ambiguous).
   */
  private pickSpan(spans: readonly IpSpan[], at: number): IpSpan | undefined | null {
    let exact: IpSpan | undefined;
    let tie = false;
    let near: IpSpan | undefined;
    let nearDist = this.skewMs;
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i]!;
      if (at >= s.from && at <= s.to) {
        if (exact === undefined || s.from > exact.from) {
          exact = s;
          tie = false;
        } else if (s.from === exact.from && s.pod !== exact.pod) tie = true;
      } else if (exact === undefined) {
        const d = at < s.from ? s.from - at : at - s.to;
        if (d <= nearDist) {
          near = s;
          nearDist = d;
        }
      }
    }
    if (tie) return null;
    return exact ?? near;
  }

  private lookupIp(ip: string, at: number, retry: boolean): Resolution {
    const spans = this.state.spansByIp.get(ip);
    if (spans !== undefined) {
      const span = this.pickSpan(spans, at);
      if (span === null) return UNRESOLVED.ambiguous;
      if (span !== undefined) return this.podResolution(span.pod);
    }
    const svc = this.state.servicesByIp.get(ip);
    if (svc !== undefined) return this.serviceResolution(svc, at);
    if (this.state.isHostIp(ip)) return UNRESOLVED['host-network'];
    if (spans !== undefined) return UNRESOLVED['not-alive-at-time'];
    if (retry && ip.includes(':')) {
      let alt = this.altCache.get(ip);
      if (alt === undefined) {
        if (this.altCache.size >= 50_000) this.altCache.clear();
        alt = alternateIp(ip) ?? null;
        this.altCache.set(ip, alt);
      }
      if (alt !== null) return this.lookupIp(alt, at, false);
    }
    return UNRESOLVED['unknown-ip'];
  }

  /** The pod's cached resolution; recomputed when its owners changed (deleted pods keep theirs). */
  podResolution(p: PodRecord): Resolution {
    const ownerEpoch = this.state.ownerEpoch;
    if (p.cache !== undefined && (p.deleted || p.cacheEpoch === ownerEpoch)) return p.cache as Resolution;
    const r: Resolution = Object.freeze({
      ok: true as const,
      workload: this.workloadOf(p),
      pod: Object.freeze({ name: p.name, namespace: p.namespace }),
    });
    p.cache = r;
    p.cacheEpoch = ownerEpoch;
    return r;
  }

  /** Crawl controller ownerReferences to the root; annotations override the name. */
  private workloadOf(p: PodRecord): WorkloadIdentity {
    let kind = 'Pod';
    let name = p.name;
    let labels = p.labels;
    let rootAnnotations: Readonly<Record<string, string>> | undefined;
    let ref = p.controller;
    for (let depth = 0; ref !== undefined && depth < 10; depth++) {
      kind = ref.kind;
      name = ref.name;
      labels = p.labels;
      rootAnnotations = undefined;
      const o = this.state.owner(ref.kind, p.namespace, ref.name);
      if (o === undefined) break;
      labels = o.labels;
      rootAnnotations = o.annotations;
      ref = o.controller;
    }
    const override =
      p.annotations[this.overrideAnnotation] ??
      p.annotations[OTTERIZE_SERVICE_NAME_ANNOTATION] ??
      rootAnnotations?.[this.overrideAnnotation] ??
      rootAnnotations?.[OTTERIZE_SERVICE_NAME_ANNOTATION];
    if (override !== undefined && override !== '') name = override;
    return identity(name, p.namespace, kind, labels);
  }

  /** ClusterIP → Service → endpoint pods → their workload when they share one, else the Service itself. */
  private serviceResolution(svc: ServiceRecord, at: number): Resolution {
    if (svc.createdAt - this.skewMs > at) return UNRESOLVED['not-alive-at-time'];
    if (svc.cache !== undefined && svc.cacheEpoch === this.state.identityEpoch) return svc.cache as Resolution;
    const service = Object.freeze({ name: svc.name, namespace: svc.namespace });
    let only: Extract<Resolution, { ok: true }> | undefined;
    let onlyKey = '';
    let pods = 0;
    let mixed = false;
    for (const t of this.state.endpointTargets(svc.key)) {
      const p = this.endpointPod(svc.namespace, t.podName, t.ip);
      if (p === undefined) continue;
      pods++;
      const r = this.podResolution(p);
      if (!r.ok) continue;
      const key = `${r.workload.kind}/${r.workload.name}`;
      if (only === undefined) {
        only = r;
        onlyKey = key;
      } else if (key !== onlyKey) mixed = true;
    }
    let res: Resolution;
    if (only !== undefined && !mixed) {
      res = Object.freeze(
        pods === 1
          ? { ok: true as const, workload: only.workload, pod: only.pod, service }
          : { ok: true as const, workload: only.workload, service },
      );
    } else {
      res = Object.freeze({
        ok: true as const,
        workload: identity(svc.name, svc.namespace, 'Service', svc.labels),
        service,
      });
    }
    svc.cache = res;
    svc.cacheEpoch = this.state.identityEpoch;
    return res;
  }

  private endpointPod(namespace: string, podName: string | undefined, ip: string): PodRecord | undefined {
    if (podName !== undefined) {
      const p = this.state.podsByKey.get(`${namespace}/${podName}`);
      if (p !== undefined) return p;
    }
    const spans = this.state.spansByIp.get(ip);
    if (spans === undefined) return undefined;
    for (const s of spans) if (!s.pod.deleted && s.to === Number.POSITIVE_INFINITY) return s.pod;
    return undefined;
  }

  private alive(p: PodRecord, at: number): boolean {
    return p.createdAt - this.skewMs <= at && at <= p.endAt + this.skewMs;
  }

  private lookupPod(ref: WorkloadRef, at: number): Resolution {
    const key = `${ref.namespace}/${ref.name}`;
    const current = this.state.podsByKey.get(key);
    if (current !== undefined && this.alive(current, at)) return this.podResolution(current);
    const history = this.state.deletedPodsByKey.get(key);
    if (history !== undefined) {
      for (let i = history.length - 1; i >= 0; i--) {
        const p = history[i]!;
        if (this.alive(p, at)) return this.podResolution(p);
      }
    }
    return current !== undefined || history !== undefined ? UNRESOLVED['not-alive-at-time'] : UNRESOLVED['unknown-pod'];
  }

  private withService(r: Resolution, svc: ServiceRecord | undefined): Resolution {
    if (!r.ok || svc === undefined) return r;
    return Object.freeze({ ...r, service: Object.freeze({ name: svc.name, namespace: svc.namespace }) });
  }

  private lookupName(name: string, ips: readonly string[], at: number, clientNamespace?: string): Resolution {
    const n = normalizeName(name);
    if (n === '') return UNRESOLVED['unknown-name'];
    let rest = n;
    let hadDomain = false;
    if (n.endsWith(this.domainSuffix)) {
      rest = n.slice(0, -this.domainSuffix.length);
      hadDomain = true;
    } else if (n === this.clusterDomain) return UNRESOLVED['unknown-name'];
    const labels = rest.split('.');
    const last = labels[labels.length - 1];
    if (last === 'svc') {
      if (labels.length === 3) return this.lookupService(labels[0]!, labels[1]!, ips, at);
      if (labels.length === 4) return this.lookupHeadless(labels[0]!, labels[1]!, labels[2]!, ips, at);
      return UNRESOLVED['unknown-name'];
    }
    if (last === 'pod' && labels.length === 3) {
      const r = this.lookupPodIpName(labels[0]!, labels[1]!, at);
      if (r.ok || hadDomain) return r;
    }
    if (hadDomain) return UNRESOLVED['unknown-name'];
    if (labels.length === 2) return this.lookupService(labels[0]!, labels[1]!, ips, at);
    if (labels.length === 1 && clientNamespace !== undefined && clientNamespace !== '') {
      return this.lookupService(labels[0]!, clientNamespace, ips, at);
    }
    return UNRESOLVED['unknown-name'];
  }

  private lookupService(name: string, namespace: string, ips: readonly string[], at: number): Resolution {
    const svc = this.state.servicesByKey.get(`${namespace}/${name}`);
    if (svc === undefined) return UNRESOLVED['unknown-name'];
    for (const ip of ips) {
      if (svc.clusterIPs.includes(ip)) return this.serviceResolution(svc, at);
      const spans = this.state.spansByIp.get(ip);
      if (spans === undefined) continue;
      const span = this.pickSpan(spans, at);
      if (span?.pod.namespace === namespace) return this.withService(this.podResolution(span.pod), svc);
    }
    return this.serviceResolution(svc, at);
  }

  /** `host.svc.ns.svc.<domain>`: a pod with that hostname+subdomain, an endpoint with that hostname, or a dashed IP. */
  private lookupHeadless(
    host: string,
    svcName: string,
    namespace: string,
    ips: readonly string[],
    at: number,
  ): Resolution {
    const svc = this.state.servicesByKey.get(`${namespace}/${svcName}`);
    const byHost = this.state.podsByHostname.get(`${namespace}/${svcName}/${host}`);
    if (byHost !== undefined && this.alive(byHost, at)) return this.withService(this.podResolution(byHost), svc);
    for (const t of this.state.endpointTargets(`${namespace}/${svcName}`)) {
      if (t.hostname !== host) continue;
      const p = this.endpointPod(namespace, t.podName, t.ip);
      if (p !== undefined) return this.withService(this.podResolution(p), svc);
    }
    const ip = undashIp(host);
    if (ip !== undefined) {
      const r = this.lookupPodIpName(host, namespace, at);
      if (r.ok) return this.withService(r, svc);
    }
    for (const answer of ips) {
      const spans = this.state.spansByIp.get(answer);
      const span = spans === undefined ? undefined : this.pickSpan(spans, at);
      if (span?.pod.namespace === namespace) return this.withService(this.podResolution(span.pod), svc);
    }
    return UNRESOLVED['unknown-name'];
  }

  private lookupPodIpName(dashed: string, namespace: string, at: number): Resolution {
    const ip = undashIp(dashed);
    if (ip === undefined) return UNRESOLVED['unknown-name'];
    const spans = this.state.spansByIp.get(ip);
    if (spans === undefined) return UNRESOLVED['unknown-name'];
    const span = this.pickSpan(spans, at);
    if (span === null) return UNRESOLVED.ambiguous;
    if (span === undefined) return UNRESOLVED['not-alive-at-time'];
    return span.pod.namespace === namespace ? this.podResolution(span.pod) : UNRESOLVED['unknown-name'];
  }

  private rebuildWorkloadIndex(): void {
    const idx = new Map<string, WorkloadIdentity>();
    for (const p of this.state.podsByUid.values()) {
      const r = this.podResolution(p);
      if (!r.ok) continue;
      const key = `${r.workload.namespace}/${r.workload.name}`;
      if (!idx.has(key)) idx.set(key, r.workload);
    }
    this.workloadIndex = idx;
    this.workloadIndexEpoch = this.state.identityEpoch;
  }
}

function normalizeName(name: string): string {
  let n = name.trim().toLowerCase();
  while (n.endsWith('.')) n = n.slice(0, -1);
  return n;
}

function identity(
  name: string,
  namespace: string,
  kind: string,
  labels: Readonly<Record<string, string>>,
): WorkloadIdentity {
  const w: WorkloadIdentity = { name, namespace, kind };
  if (Object.keys(labels).length > 0) w.labels = labels as Record<string, string>;
  return Object.freeze(w);
}

// ---- factory ----

export const ENDPOINT_SOURCES = ['EndpointSlice', 'Endpoints', 'both'] as const;
export type EndpointSource = (typeof ENDPOINT_SOURCES)[number];

export interface KubeResolverConfig extends KubeResolverOptions, ClusterStateOptions {
  /** Where the credentials come from (see `kubeconfigSourceFrom` in sources.ts). */
  kubeconfig: KubeconfigSource;
  /** Which endpoint objects map Services to pods. Default `EndpointSlice`. */
  endpoints?: EndpointSource;
  /** Watch Nodes (needs cluster-wide `list/watch nodes`); default true. */
  watchNodes?: boolean;
  informer?: InformerOptions;
  /** Clock for "observed deletion" times (ms). Default Date.now. */
  clock?: () => number;
  /** Replaces the client-node list/watch sources (tests). */
  sourceFactory?: (kind: StateKind) => ListWatchSource;
}

export interface KubeResolverStats extends ResolverStats {
  ready: boolean;
  informers: InformerStats[];
  state: ClusterStateCounts;
}

export interface KubeResolverHandle {
  resolver: KubeResolver;
  /** Starts every informer (idempotent); readiness shows in `resolver.ready()`. */
  start(): void;
  /** Resolves true once every informer has listed, false after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<boolean>;
  shutdown(): Promise<void>;
  stats(): KubeResolverStats;
}

/** The kinds watched for a given configuration. */
export function watchedKinds(config: Pick<KubeResolverConfig, 'endpoints' | 'watchNodes'>): StateKind[] {
  const kinds: StateKind[] = ['Pod', 'Service'];
  const ep = config.endpoints ?? 'EndpointSlice';
  if (ep !== 'Endpoints') kinds.push('EndpointSlice');
  if (ep !== 'EndpointSlice') kinds.push('Endpoints');
  if (config.watchNodes !== false) kinds.push('Node');
  kinds.push('ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob');
  return kinds;
}

/**
 * A Resolver fed by informers on every kind identity resolution needs. Throws a CallmapError when
 * the kubeconfig cannot be loaded; connection problems later are retried forever (see stats()).
 */
export function createKubeResolver(config: KubeResolverConfig): KubeResolverHandle {
  const clock = config.clock ?? Date.now;
  const state = new ClusterState(config);
  let sourceFor = config.sourceFactory;
  if (sourceFor === undefined) {
    const sources = new KubeSources(loadKubeConfig(config.kubeconfig));
    // Each object is trimmed as it arrives (list pages, watch events): nothing keeps it whole.
    sourceFor = (kind) => sources.source(kind, (o) => state.trim(kind, o));
  }
  const informers: ResilientInformer[] = [];
  const resolver = new KubeResolver(state, {
    ...config,
    ready: () => informers.every((i) => i.synced()),
  });
  for (const kind of watchedKinds(config)) {
    informers.push(
      new ResilientInformer(
        kind,
        sourceFor(kind),
        {
          replace: (items) => state.replace(kind, items, clock()),
          event: (type, obj) => state.apply(kind, type, obj, clock()),
        },
        config.informer,
      ),
    );
  }
  return {
    resolver,
    start() {
      for (const i of informers) i.start();
    },
    async waitForSync(timeoutMs) {
      const all = await Promise.all(informers.map((i) => i.waitForSync(timeoutMs)));
      return all.every(Boolean);
    },
    async shutdown() {
      await Promise.all(informers.map((i) => i.shutdown()));
    },
    stats() {
      return {
        ...resolver.stats(),
        ready: resolver.ready(),
        informers: informers.map((i) => i.stats()),
        state: state.counts(),
      };
    },
  };
}
