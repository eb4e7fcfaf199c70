/**
 * The series model shared by both stats formats, and the per-page aggregator that turns raw
 * series into edges: workloads by name (never by label position), unknown/passthrough skipped and
 * counted, paths normalised. Series that project to the same edge are summed (response codes,
 * flags and the like do not matter to the map; see docs/adr/0050-istio-counter-deltas.md).
 */
import type { WorkloadRef } from '../../mapper/contract/index.ts';
import { normalizeMethod, normalizePath } from './paths.ts';

export const ISTIO_METRICS = ['istio_requests_total', 'istio_tcp_connections_opened_total'] as const;
export type IstioMetric = (typeof ISTIO_METRICS)[number];

/** The labels the watcher reads from one series, by name. Everything else is ignored. */
export interface RawSeries {
  metric: IstioMetric;
  reporter: string | undefined;
  sourceWorkload: string | undefined;
  sourceNamespace: string | undefined;
  destinationWorkload: string | undefined;
  destinationNamespace: string | undefined;
  destinationService: string | undefined;
  destinationServiceName: string | undefined;
  method: string | undefined;
  path: string | undefined;
  /** True when the series carries a `request_path` (or `request_url_path`) label at all. */
  hasPathLabel: boolean;
  value: number;
}

export function emptyRawSeries(metric: IstioMetric): RawSeries {
  return {
    metric,
    reporter: undefined,
    sourceWorkload: undefined,
    sourceNamespace: undefined,
    destinationWorkload: undefined,
    destinationNamespace: undefined,
    destinationService: undefined,
    destinationServiceName: undefined,
    method: undefined,
    path: undefined,
    hasPathLabel: false,
    value: 0,
  };
}

/** A setter per kept label name, so a hot loop can resolve the name once, not per series. */
export function labelSetter(name: string): ((s: RawSeries, value: string) => void) | undefined {
  switch (name) {
    case 'reporter':
      return (s, v) => {
        s.reporter = v;
      };
    case 'source_workload':
      return (s, v) => {
        s.sourceWorkload = v;
      };
    case 'source_workload_namespace':
      return (s, v) => {
        s.sourceNamespace = v;
      };
    case 'destination_workload':
      return (s, v) => {
        s.destinationWorkload = v;
      };
    case 'destination_workload_namespace':
      return (s, v) => {
        s.destinationNamespace = v;
      };
    case 'destination_service':
      return (s, v) => {
        s.destinationService = v;
      };
    case 'destination_service_name':
      return (s, v) => {
        s.destinationServiceName = v;
      };
    case 'request_method':
      return (s, v) => {
        s.method = v;
      };
    case 'request_path':
    case 'request_url_path':
      return (s, v) => {
        setLabel(s, name, v);
      };
    default:
      return undefined;
  }
}

/** Sets one label by its Istio name; unknown names are ignored. Returns true when it was used. */
export function setLabel(s: RawSeries, name: string, value: string): boolean {
  switch (name) {
    case 'reporter':
      s.reporter = value;
      return true;
    case 'source_workload':
      s.sourceWorkload = value;
      return true;
    case 'source_workload_namespace':
      s.sourceNamespace = value;
      return true;
    case 'destination_workload':
      s.destinationWorkload = value;
      return true;
    case 'destination_workload_namespace':
      s.destinationNamespace = value;
      return true;
    case 'destination_service':
      s.destinationService = value;
      return true;
    case 'destination_service_name':
      s.destinationServiceName = value;
      return true;
    case 'request_method':
      s.method = value;
      return true;
    case 'request_path':
      s.path = value;
      s.hasPathLabel = true;
      return true;
    case 'request_url_path':
      if (!s.hasPathLabel) s.path = value;
      s.hasPathLabel = true;
      return true;
    default:
      return false;
  }
}

export const EDGE_REPORTERS = ['source', 'destination', 'waypoint'] as const;
export type EdgeReporter = (typeof EDGE_REPORTERS)[number];

/** One edge as seen by one proxy: what an observation is made of, minus the count. */
export interface Edge {
  metric: IstioMetric;
  reporter: EdgeReporter;
  client: WorkloadRef;
  server: WorkloadRef;
  serverService?: string;
  method?: string;
  path?: string;
}

export const SKIP_REASONS = [
  'malformed-line',
  'line-too-long',
  'invalid-value',
  'unknown-reporter',
  'unknown-workload',
  'passthrough',
  'other-namespace',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type SkipCounts = Record<SkipReason, number>;
export const emptySkipCounts = (): SkipCounts => Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as SkipCounts;

/** Where the aggregator puts edges: a per-page map, or a proxy's running state (delta.ts). */
export interface EdgeTable {
  /** Adds `value` to the edge with this key; false when the key is new (then `insert` follows). */
  addTo(key: string, value: number): boolean;
  insert(key: string, edge: Edge, value: number): void;
}

/** The plain table: this page's edges and their summed values. */
export class PageEdges implements EdgeTable {
  readonly map = new Map<string, { edge: Edge; value: number }>();
  addTo(key: string, value: number): boolean {
    const hit = this.map.get(key);
    if (hit === undefined) return false;
    hit.value += value;
    return true;
  }
  insert(key: string, edge: Edge, value: number): void {
    this.map.set(key, { edge, value });
  }
}

export interface PageAggregate {
  /** Edge key → edge and the summed counter value on this page (empty when another table was given). */
  edges: ReadonlyMap<string, { edge: Edge; value: number }>;
  /** Series of the wanted metrics that were read (before skipping). */
  parsed: number;
  skipped: SkipCounts;
  /** `istio_requests_total` series (kept ones) without a request_path label. */
  withoutPathLabel: number;
  /** Paths dropped from an edge that was still reported (not absolute, too long). */
  pathsDropped: number;
}

export interface AggregatorOptions {
  templatePaths: boolean;
  /** Only edges with the client or the server in one of these namespaces (empty = all). */
  namespaces?: ReadonlySet<string>;
  /** Metrics this page may contribute (sidecars: requests only; ztunnel: TCP only). */
  metrics?: ReadonlySet<IstioMetric>;
}

const PASSTHROUGH = new Set([
  'PassthroughCluster',
  'BlackHoleCluster',
  'InboundPassthroughCluster',
  'InboundPassthroughClusterIpv4',
  'InboundPassthroughClusterIpv6',
]);

/** Cheap pre-checks first: hashing every label value for a Set lookup costs more than parsing it. */
function isPassthrough(v: string | undefined): boolean {
  if (v === undefined || v.length < 16 || v.length > 29) return false;
  const c = v.charCodeAt(0);
  return (c === 80 /* P */ || c === 66 /* B */ || c === 73) /* I */ && PASSTHROUGH.has(v);
}

const known = (v: string | undefined): v is string => v !== undefined && v !== '' && v !== 'unknown';

export interface Aggregator {
  add(s: RawSeries): void;
  /** Counts a series the parser could not read. */
  skip(reason: SkipReason): void;
  result(): PageAggregate;
}

/** What one series projects to (filled by projectSeries; reused between calls). */
export interface Projection {
  /** The edge key (metric and reporter letters, then the parts joined by U+0001). */
  key: string;
  metric: IstioMetric;
  reporter: EdgeReporter;
  clientNamespace: string;
  clientName: string;
  serverNamespace: string;
  serverName: string;
  serverService: string | undefined;
  method: string | undefined;
  path: string | undefined;
  /** An `istio_requests_total` series without a request_path label (counted per series). */
  withoutPathLabel: boolean;
  /** The series had a path that was dropped (not absolute, too long). */
  pathDropped: boolean;
}

export const emptyProjection = (): Projection => ({
  key: '',
  metric: 'istio_requests_total',
  reporter: 'source',
  clientNamespace: '',
  clientName: '',
  serverNamespace: '',
  serverName: '',
  serverService: undefined,
  method: undefined,
  path: undefined,
  withoutPathLabel: false,
  pathDropped: false,
});

/**
 * The pure projection of one series onto an edge: 'filtered' when its metric is not wanted on
 * this page (not counted at all), a skip reason, or undefined with `out` filled. The native
 * parser (native.ts) caches its result per distinct label tuple, so it must depend on nothing
 * but the series and the options.
 */
export function projectSeries(
  s: RawSeries,
  opts: AggregatorOptions,
  out: Projection,
  withKey = true,
): SkipReason | 'filtered' | undefined {
  if (opts.metrics && !opts.metrics.has(s.metric)) return 'filtered';
  const reporter = s.reporter;
  if (
    reporter !== 'source' &&
    reporter !== 'destination' &&
    (reporter !== 'waypoint' || s.metric !== 'istio_requests_total')
  ) {
    return 'unknown-reporter';
  }
  if (
    isPassthrough(s.destinationServiceName) ||
    isPassthrough(s.destinationService) ||
    isPassthrough(s.destinationWorkload)
  ) {
    return 'passthrough';
  }
  const sw = s.sourceWorkload;
  const sns = s.sourceNamespace;
  const dw = s.destinationWorkload;
  const dns = s.destinationNamespace;
  if (!known(sw) || !known(sns) || !known(dw) || !known(dns)) return 'unknown-workload';
  const nsFilter = opts.namespaces;
  if (nsFilter && nsFilter.size > 0 && !nsFilter.has(sns) && !nsFilter.has(dns)) return 'other-namespace';
  let method: string | undefined;
  let path: string | undefined;
  out.withoutPathLabel = false;
  out.pathDropped = false;
  const svc = known(s.destinationServiceName) ? s.destinationServiceName : undefined;
  if (s.metric === 'istio_requests_total') {
    method = normalizeMethod(s.method);
    if (!s.hasPathLabel) out.withoutPathLabel = true;
    else {
      const p = normalizePath(s.path, opts.templatePaths);
      if (p.ok) path = p.path;
      else if (p.reason !== 'no-path') out.pathDropped = true;
    }
  }
  // Short key (hashed once per series): metric and reporter as one letter each.
  if (withKey)
    out.key = `${s.metric === 'istio_requests_total' ? 'h' : 't'}${reporter.charAt(0)}${sns}\u0001${sw}\u0001${dns}\u0001${dw}\u0001${svc ?? ''}\u0001${method ?? ''}\u0001${path ?? ''}`;
  out.metric = s.metric;
  out.reporter = reporter;
  out.clientNamespace = sns;
  out.clientName = sw;
  out.serverNamespace = dns;
  out.serverName = dw;
  out.serverService = svc;
  out.method = method;
  out.path = path;
  return undefined;
}

/**
 * The edge of a projection. Its strings are cut from the (flat, hashed) key rather than kept
 * from the label values: those may be slices of a 64 KiB page chunk and would keep every chunk alive.
 */
export function edgeOf(p: Projection): Edge {
  const key = p.key;
  let at = 2;
  const cut = (len: number): string => {
    const v = key.slice(at, at + len);
    at += len + 1;
    return v;
  };
  const edge: Edge = {
    metric: p.metric,
    reporter: p.reporter,
    client: { namespace: cut(p.clientNamespace.length), name: cut(p.clientName.length) },
    server: { namespace: cut(p.serverNamespace.length), name: cut(p.serverName.length) },
  };
  const svcCut = cut((p.serverService ?? '').length);
  const methodCut = cut((p.method ?? '').length);
  const pathCut = cut((p.path ?? '').length);
  if (p.serverService !== undefined) edge.serverService = svcCut;
  if (p.method !== undefined) edge.method = methodCut;
  if (p.path !== undefined) edge.path = pathCut;
  return edge;
}

export function createAggregator(opts: AggregatorOptions, table: EdgeTable = new PageEdges()): Aggregator {
  const agg: PageAggregate = {
    edges: table instanceof PageEdges ? table.map : new Map(),
    parsed: 0,
    skipped: emptySkipCounts(),
    withoutPathLabel: 0,
    pathsDropped: 0,
  };
  const out = emptyProjection();
  return {
    skip(reason) {
      agg.skipped[reason]++;
    },
    add(s) {
      const r = projectSeries(s, opts, out);
      if (r === 'filtered') return;
      agg.parsed++;
      if (r !== undefined) {
        agg.skipped[r]++;
        return;
      }
      if (out.withoutPathLabel) agg.withoutPathLabel++;
      if (out.pathDropped) agg.pathsDropped++;
      if (table.addTo(out.key, s.value)) return;
      table.insert(out.key, edgeOf(out), s.value);
    },
    result: () => agg,
  };
}
