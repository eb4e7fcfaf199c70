/**
 * The two implementations of "read a proxy's page into its counter state": the native one
 * (@callmap/watchers-native, callmap_istio: C tokenizer + per-proxy tuple cache and counter
 * state, docs/adr/0052-istio-native-parser.md) and the TypeScript one (prometheus.ts + series.ts +
 * delta.ts), which is the fallback when the addon is not built and the oracle the tests compare
 * the native one against. Both give the same deltas, in the same order, and the same page counts.
 */
import { createRequire } from 'node:module';
import type { WorkloadRef } from '../../mapper/contract/index.ts';
import { CounterDeltas, type DeltaResult } from './delta.ts';
import { createPageParser } from './page.ts';
import { createPrometheusParser, DEFAULT_MAX_LINE, type PrometheusParser } from './prometheus.ts';
import {
  type AggregatorOptions,
  createAggregator,
  type Edge,
  type EdgeTable,
  emptyProjection,
  emptyRawSeries,
  emptySkipCounts,
  ISTIO_METRICS,
  type IstioMetric,
  type PageAggregate,
  type Projection,
  projectSeries,
  type RawSeries,
  SKIP_REASONS,
} from './series.ts';

export const ENGINE_KINDS = ['native', 'typescript'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** One page being read for one proxy. */
export interface SourceRun {
  push(chunk: Buffer): void;
  /** Finishes the page; false when it was JSON but not an Envoy stats document. */
  end(): boolean;
  /** This page's counts (its `edges` map is empty: edges go straight into the proxy's state). */
  result(): PageAggregate;
  /** Applies the page (only when it was read whole); adds the servers it reported as destination to `covered`. */
  commit(covered?: Set<string>): DeltaResult;
  /** Native engine only: how many lines of this page took the known-series fast path (ADR 0053). */
  knownLines?(): number;
}

export interface BeginOptions extends AggregatorOptions {
  maxLineLength?: number;
}

export interface IstioEngine {
  readonly kind: EngineKind;
  begin(sourceId: string, opts: BeginOptions): SourceRun;
  /** Forgets every proxy not in `alive`; returns how many were dropped. */
  retain(alive: ReadonlySet<string>): number;
  readonly sources: number;
}

export function createTypescriptEngine(): IstioEngine {
  const deltas = new CounterDeltas();
  return {
    kind: 'typescript',
    begin(sourceId, opts) {
      const run = deltas.begin(sourceId);
      const agg = createAggregator(opts, run.table);
      const max = opts.maxLineLength;
      const parser = createPageParser(agg, ISTIO_METRICS, () =>
        createPrometheusParser(agg, max === undefined ? {} : { maxLineLength: max }),
      );
      return {
        push: (c) => parser.push(c),
        end: () => parser.end(),
        result: () => agg.result(),
        commit: (covered) => run.commit(covered),
      };
    },
    retain: (alive) => deltas.retain(alive),
    get sources() {
      return deltas.sources;
    },
  };
}

/** The surface of build/Release/callmap_istio.node (watchers/native/src/istio.c). */
type Resolve = (
  metric: IstioMetric,
  reporter: string | undefined,
  sourceWorkload: string | undefined,
  sourceNamespace: string | undefined,
  destinationWorkload: string | undefined,
  destinationNamespace: string | undefined,
  destinationService: string | undefined,
  destinationServiceName: string | undefined,
  method: string | undefined,
  path: string | undefined,
  hasPathLabel: boolean,
  /** Where JS keeps the Edge of a returned record, should it make a new edge (commit adopts it). */
  slot: number,
) => number | string;

export interface IstioAddon {
  create(): unknown;
  begin(handle: unknown, metricsMask: number, maxLine: number, clearTuples: number): number;
  push(handle: unknown, chunk: Buffer, resolve: Resolve, num: (token: string) => number): void;
  end(handle: unknown, resolve: Resolve, num: (token: string) => number): void;
  /** parsed, 7 skip counts, withoutPathLabel, pathsDropped[, lines read by the known-series fast path] */
  stats(handle: unknown, out: Float64Array): void;
  /** Returns the slot where JS keeps this record's Edge, should it make a new edge. */
  edgeAdd(handle: unknown, record: string, value: number): number;
  /**
   * firstSeen, resets, ids of the changed edges, their counts, server ids (+1) of the destination
   * edges on the page, ids of the edges created since the last commit that stay and the slots of
   * their Edges (JS adopts them), ids whose edges are gone (their ids are reused later, adopted
   * again). After a commit JS holds an Edge for exactly the live edges.
   */
  commit(
    handle: unknown,
    gen: number,
  ): [number, number, Uint32Array, Float64Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  destroy(handle: unknown): void;
  memory(handle: unknown): number;
  /** The scanners in use ('avx512', 'avx2' or 'sse2'); a name forces that set when the CPU has it (tests). */
  simd(name?: 'sse2' | 'avx2' | 'avx512'): string;
}

const FUNCTIONS = [
  'create',
  'begin',
  'push',
  'end',
  'stats',
  'edgeAdd',
  'commit',
  'destroy',
  'memory',
  'simd',
] as const;

/** The addon when it is built and complete, else undefined with the reason. */
export function loadIstioAddon(): { addon: IstioAddon } | { addon: undefined; reason: string } {
  try {
    const mod = createRequire(import.meta.url)('@callmap/watchers-native') as { loadIstio(): unknown };
    const addon = mod.loadIstio() as Partial<Record<(typeof FUNCTIONS)[number], unknown>>;
    const missing = FUNCTIONS.filter((f) => typeof addon[f] !== 'function');
    if (missing.length > 0) return { addon: undefined, reason: `callmap_istio lacks ${missing.join(', ')}` };
    return { addon: addon as IstioAddon };
  } catch (e) {
    return { addon: undefined, reason: ((e as Error)?.message ?? String(e)).split('\n')[0] ?? '' };
  }
}

/**
 * The engine `callmap watch istio` uses: native when the addon is built, else TypeScript.
 * Says once in the log which one.
 */
export function loadIstioEngine(log: (line: string) => void, prefer: EngineKind = 'native'): IstioEngine {
  if (prefer === 'native') {
    const r = loadIstioAddon();
    if (r.addon) {
      log('istio watcher: using the native stats parser (@callmap/watchers-native)');
      return createNativeEngine(r.addon);
    }
    log(`istio watcher: native stats parser not available (${r.reason}); using the TypeScript parser`);
  } else log('istio watcher: using the TypeScript stats parser');
  return createTypescriptEngine();
}

const num = (t: string): number => Number(t);

/** Shared refs and strings kept per proxy before the maps start afresh (they only save memory). */
const MAX_INTERNED = 65536;

/** Unsigned varint as chars of 7 bits (high bit = more): latin1, never a surrogate. */
function varint(n: number): string {
  if (n < 0x80) return String.fromCharCode(n);
  let out = '';
  let v = n;
  while (v >= 0x80) {
    out += String.fromCharCode((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  return out + String.fromCharCode(v);
}

/**
 * An edge as the string the native side stores and hands back (its identity, injective):
 * metric letter, reporter letter, then client namespace and name, server namespace and name,
 * service, method, path, each as varint length + chars ('' for undefined: those are never empty).
 */
export function edgeIdentity(e: {
  metric: IstioMetric;
  reporter: string;
  clientNamespace: string;
  clientName: string;
  serverNamespace: string;
  serverName: string;
  serverService: string | undefined;
  method: string | undefined;
  path: string | undefined;
}): string {
  const svc = e.serverService ?? '';
  const method = e.method ?? '';
  const path = e.path ?? '';
  // `+` (a rope the addon flattens once) rather than an array join: once per new label set.
  return (
    (e.metric === 'istio_requests_total' ? 'h' : 't') +
    e.reporter.charAt(0) +
    varint(e.clientNamespace.length) +
    e.clientNamespace +
    varint(e.clientName.length) +
    e.clientName +
    varint(e.serverNamespace.length) +
    e.serverNamespace +
    varint(e.serverName.length) +
    e.serverName +
    varint(svc.length) +
    svc +
    varint(method.length) +
    method +
    varint(path.length) +
    path
  );
}

/** An edge as handed out in deltas, shared by every delta of it: frozen (client and server too). */
export function frozenEdge(e: Edge): Edge {
  Object.freeze(e.client);
  Object.freeze(e.server);
  return Object.freeze(e);
}

/**
 * One proxy's state on the JS side: its native handle, the ids of the servers its destination
 * edges name (for the reporter choice), and the `Edge` of each native edge id it was handed (built
 * once, when the edge first changed; released when the edge is forgotten natively). Tuples,
 * counters and edge records live natively.
 */
class NativeSource implements EdgeTable {
  readonly handle: unknown;
  readonly #addon: IstioAddon;
  /** Server ids by metric, namespace and name (never reset: an edge's record holds its server's id). */
  readonly serverIds: Map<string, Map<string, number>>[] = [new Map(), new Map()];
  readonly serverKeys: string[] = [];
  /** Native edge id -> its Edge (undefined: released, or never used). */
  readonly edges: (Edge | undefined)[] = [];
  /**
   * Edges built for records since the last commit, by the slot the addon gave: the next commit
   * adopts those that made a new native edge (ADR 0054), so no identity string comes back.
   */
  readonly pending: (Edge | undefined)[] = [];
  /**
   * Client and server refs (frozen; by namespace, then name), service names and methods shared by
   * this proxy's edges: fewer objects for the GC to copy and promote. Started afresh when large
   * (they only save memory).
   */
  readonly refs = new Map<string, Map<string, WorkloadRef>>();
  readonly strings = new Map<string, string>();
  interned = 0;
  optionsKey = '';

  constructor(addon: IstioAddon) {
    this.#addon = addon;
    this.handle = addon.create();
  }

  /** '0'..'3' (flags), server id + 1 (0 = not a destination edge), then the identity. */
  record(flags: number, p: Parameters<typeof edgeIdentity>[0]): string {
    let server = 0;
    if (p.reporter === 'destination') {
      // Nested maps: no key string is built per lookup (the label values are flat strings).
      const byNs = this.serverIds[p.metric === 'istio_requests_total' ? 0 : 1] as Map<string, Map<string, number>>;
      let byName = byNs.get(p.serverNamespace);
      if (byName === undefined) {
        byName = new Map();
        byNs.set(p.serverNamespace, byName);
      }
      let id = byName.get(p.serverName);
      if (id === undefined) {
        id = this.serverKeys.length;
        this.serverKeys.push(`${p.metric}\u0001${p.serverNamespace}\u0001${p.serverName}`);
        byName.set(p.serverName, id);
      }
      server = id + 1;
    }
    return String.fromCharCode(48 + flags) + varint(server) + edgeIdentity(p);
  }

  /** A frozen ref for this workload, shared by the proxy's edges. */
  ref(namespace: string, name: string): WorkloadRef {
    let byName = this.refs.get(namespace);
    if (byName === undefined) {
      if (this.interned >= MAX_INTERNED) this.forget();
      byName = new Map();
      this.refs.set(namespace, byName);
    }
    let r = byName.get(name);
    if (r === undefined) {
      r = Object.freeze({ namespace, name });
      byName.set(name, r);
      this.interned++;
    }
    return r;
  }

  /** This proxy's copy of a service name or method (equal strings, one object). */
  shared(v: string): string {
    const s = this.strings.get(v);
    if (s !== undefined) return s;
    if (this.interned >= MAX_INTERNED) this.forget();
    this.strings.set(v, v);
    this.interned++;
    return v;
  }

  /** Drops the shared refs and strings (the edges keep theirs). */
  forget(): void {
    this.refs.clear();
    this.strings.clear();
    this.interned = 0;
  }

  /** The frozen Edge of a projection: the TS aggregator's edgeOf, with shared refs and strings. */
  edgeOf(p: Projection): Edge {
    const edge: Edge = {
      metric: p.metric,
      reporter: p.reporter,
      client: this.ref(p.clientNamespace, p.clientName),
      server: this.ref(p.serverNamespace, p.serverName),
    };
    if (p.serverService !== undefined) edge.serverService = this.shared(p.serverService);
    if (p.method !== undefined) edge.method = this.shared(p.method);
    if (p.path !== undefined) edge.path = p.path;
    return Object.freeze(edge);
  }

  // The Envoy JSON path (TS aggregator): every series is handed over as a record; the native
  // side finds its edge by identity.
  addTo(): boolean {
    return false;
  }

  insert(_key: string, edge: Edge, value: number): void {
    const rec = this.record(0, {
      metric: edge.metric,
      reporter: edge.reporter,
      clientNamespace: edge.client.namespace,
      clientName: edge.client.name,
      serverNamespace: edge.server.namespace,
      serverName: edge.server.name,
      serverService: edge.serverService,
      method: edge.method,
      path: edge.path,
    });
    const slot = this.#addon.edgeAdd(this.handle, rec, value);
    if (typeof slot === 'number') this.pending[slot] = frozenEdge(edge);
  }
}

const optionsKey = (o: AggregatorOptions): string =>
  JSON.stringify([o.templatePaths, [...(o.namespaces ?? [])].sort(), [...(o.metrics ?? ISTIO_METRICS)].sort()]);

export function createNativeEngine(addon: IstioAddon): IstioEngine {
  const bySource = new Map<string, NativeSource>();
  return {
    kind: 'native',
    begin(sourceId, opts) {
      let src = bySource.get(sourceId);
      if (src === undefined) {
        src = new NativeSource(addon);
        bySource.set(sourceId, src);
      }
      const st = src;
      const okey = optionsKey(opts);
      const clear = okey !== st.optionsKey;
      st.optionsKey = okey;
      let mask = 0;
      ISTIO_METRICS.forEach((m, i) => {
        if (!opts.metrics || opts.metrics.has(m)) mask |= 1 << i;
      });
      const gen = addon.begin(st.handle, mask, opts.maxLineLength ?? DEFAULT_MAX_LINE, clear ? 1 : 0);
      // The projection the native side caches per label tuple (the metric filter is applied natively).
      const projOpts: AggregatorOptions = {
        templatePaths: opts.templatePaths,
        ...(opts.namespaces ? { namespaces: opts.namespaces } : {}),
      };
      const out = emptyProjection();
      const series: RawSeries = emptyRawSeries('istio_requests_total');
      const resolve: Resolve = (metric, reporter, sw, sns, dw, dns, ds, dsn, method, path, hasPathLabel, slot) => {
        series.metric = metric;
        series.reporter = reporter;
        series.sourceWorkload = sw;
        series.sourceNamespace = sns;
        series.destinationWorkload = dw;
        series.destinationNamespace = dns;
        series.destinationService = ds;
        series.destinationServiceName = dsn;
        series.method = method;
        series.path = path;
        series.hasPathLabel = hasPathLabel;
        const r = projectSeries(series, projOpts, out, false);
        if (r === 'filtered') throw new Error('istio native engine: unexpected metric filter in projection');
        if (r !== undefined) return -(2 + SKIP_REASONS.indexOf(r));
        // Label values reach JS as fresh flat strings (not slices of a page chunk): the Edge keeps them.
        st.pending[slot] = st.edgeOf(out);
        return st.record((out.withoutPathLabel ? 1 : 0) + (out.pathDropped ? 2 : 0), out);
      };
      const prom: PrometheusParser = {
        push: (chunk) => addon.push(st.handle, chunk, resolve, num),
        end: () => addon.end(st.handle, resolve, num),
      };
      // Envoy JSON pages keep the TypeScript reader; its edges go into the native state.
      const agg = createAggregator(opts, st);
      const parser = createPageParser(agg, ISTIO_METRICS, () => prom);
      return {
        push: (c) => parser.push(c),
        end: () => parser.end(),
        knownLines() {
          if (parser.format() !== 'prometheus') return 0;
          const o = new Float64Array(11);
          addon.stats(st.handle, o);
          return o[10] as number;
        },
        result() {
          if (parser.format() !== 'prometheus') return agg.result();
          const o = new Float64Array(10);
          addon.stats(st.handle, o);
          const skipped = emptySkipCounts();
          SKIP_REASONS.forEach((r, i) => {
            skipped[r] = o[1 + i] as number;
          });
          return {
            edges: new Map(),
            parsed: o[0] as number,
            skipped,
            withoutPathLabel: o[8] as number,
            pathsDropped: o[9] as number,
          };
        },
        commit(covered) {
          const [firstSeen, resets, changed, counts, servers, adoptIds, adoptSlots, released] = addon.commit(
            st.handle,
            gen,
          );
          const edges = st.edges;
          const pending = st.pending;
          for (let k = 0; k < released.length; k++) edges[released[k] as number] = undefined;
          for (let k = 0; k < adoptIds.length; k++) {
            const edge = pending[adoptSlots[k] as number];
            if (edge === undefined) throw new Error('istio native engine: commit adopted an edge JS never built');
            edges[adoptIds[k] as number] = edge;
          }
          pending.length = 0;
          // One column of shared Edge objects (no object per delta).
          const out: Edge[] = [];
          for (let k = 0; k < changed.length; k++) {
            const edge = edges[changed[k] as number];
            if (edge === undefined) throw new Error('istio native engine: commit named an edge id JS does not hold');
            out.push(edge);
          }
          if (covered !== undefined) for (const id of servers) covered.add(st.serverKeys[id - 1] as string);
          return { edges: out, counts, firstSeen, resets };
        },
      };
    },
    retain(alive) {
      let dropped = 0;
      for (const [id, src] of [...bySource]) {
        if (!alive.has(id)) {
          addon.destroy(src.handle);
          src.edges.length = 0;
          src.pending.length = 0;
          src.forget();
          bySource.delete(id);
          dropped++;
        }
      }
      return dropped;
    },
    get sources() {
      return bySource.size;
    },
  };
}
