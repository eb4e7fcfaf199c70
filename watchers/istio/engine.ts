/**
 * The two implementations of "read a proxy's page into its counter state": the native one
 * (@callmap/watchers-native, callmap_istio: C tokenizer + per-proxy tuple cache and counter
 * state, docs/adr/0052-istio-native-parser.md) and the TypeScript one (prometheus.ts + series.ts +
 * delta.ts), which is the fallback when the addon is not built and the oracle the tests compare
 * the native one against. Both give the same deltas, in the same order, and the same page counts.
 */
import { createRequire } from 'node:module';
import { CounterDeltas, type DeltaResult, type EdgeDelta, serverKey } from './delta.ts';
import { createPageParser } from './page.ts';
import { createPrometheusParser, DEFAULT_MAX_LINE, type PrometheusParser } from './prometheus.ts';
import {
  type AggregatorOptions,
  createAggregator,
  type Edge,
  type EdgeTable,
  edgeOf,
  emptyProjection,
  emptySkipCounts,
  ISTIO_METRICS,
  type IstioMetric,
  type PageAggregate,
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
) => number;

export interface IstioAddon {
  create(): unknown;
  begin(handle: unknown, metricsMask: number, maxLine: number, clearTuples: number): number;
  push(handle: unknown, chunk: Buffer, resolve: Resolve, num: (token: string) => number): void;
  end(handle: unknown, resolve: Resolve, num: (token: string) => number): void;
  stats(handle: unknown, out: Float64Array): void;
  edgeAdd(handle: unknown, index: number, value: number): void;
  commit(handle: unknown, gen: number): [number, number, Uint32Array, Float64Array, Uint32Array];
  destroy(handle: unknown): void;
  memory(handle: unknown): number;
}

const FUNCTIONS = ['create', 'begin', 'push', 'end', 'stats', 'edgeAdd', 'commit', 'destroy', 'memory'] as const;

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

/** One proxy's state on the JS side: edge key ⇄ native edge index, and the Edge objects. */
class NativeSource implements EdgeTable {
  readonly handle: unknown;
  readonly #addon: IstioAddon;
  readonly index = new Map<string, number>();
  readonly edges: Array<Edge | undefined> = [];
  readonly keys: Array<string | undefined> = [];
  readonly free: number[] = [];
  /** Live destination edges per server key (after a commit: the servers this page covered). */
  readonly servers = new Map<string, number>();
  optionsKey = '';

  constructor(addon: IstioAddon) {
    this.#addon = addon;
    this.handle = addon.create();
  }

  alloc(key: string, edge: Edge): number {
    const i = this.free.pop() ?? this.edges.length;
    this.edges[i] = edge;
    this.keys[i] = key;
    this.index.set(key, i);
    if (edge.reporter === 'destination') {
      const sk = serverKey(edge);
      this.servers.set(sk, (this.servers.get(sk) ?? 0) + 1);
    }
    return i;
  }

  release(i: number): void {
    const edge = this.edges[i];
    const key = this.keys[i];
    if (edge === undefined || key === undefined) return;
    this.index.delete(key);
    this.edges[i] = undefined;
    this.keys[i] = undefined;
    this.free.push(i);
    if (edge.reporter === 'destination') {
      const sk = serverKey(edge);
      const n = (this.servers.get(sk) ?? 1) - 1;
      if (n <= 0) this.servers.delete(sk);
      else this.servers.set(sk, n);
    }
  }

  addTo(key: string, value: number): boolean {
    const i = this.index.get(key);
    if (i === undefined) return false;
    this.#addon.edgeAdd(this.handle, i, value);
    return true;
  }

  insert(key: string, edge: Edge, value: number): void {
    this.#addon.edgeAdd(this.handle, this.alloc(key, edge), value);
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
      const series: RawSeries = {
        metric: 'istio_requests_total',
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
      const resolve: Resolve = (metric, reporter, sw, sns, dw, dns, ds, dsn, method, path, hasPathLabel) => {
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
        const r = projectSeries(series, projOpts, out);
        if (r === 'filtered') throw new Error('istio native engine: unexpected metric filter in projection');
        if (r !== undefined) return -(2 + SKIP_REASONS.indexOf(r));
        const i = st.index.get(out.key) ?? st.alloc(out.key, edgeOf(out));
        return i * 4 + (out.withoutPathLabel ? 1 : 0) + (out.pathDropped ? 2 : 0);
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
          const [firstSeen, resets, changed, counts, freed] = addon.commit(st.handle, gen);
          for (const i of freed) st.release(i);
          const deltas: EdgeDelta[] = new Array(changed.length);
          for (let k = 0; k < changed.length; k++) {
            deltas[k] = { edge: st.edges[changed[k] as number] as Edge, count: counts[k] as number };
          }
          if (covered !== undefined) for (const sk of st.servers.keys()) covered.add(sk);
          return { deltas, firstSeen, resets };
        },
      };
    },
    retain(alive) {
      let dropped = 0;
      for (const [id, src] of [...bySource]) {
        if (!alive.has(id)) {
          addon.destroy(src.handle);
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
