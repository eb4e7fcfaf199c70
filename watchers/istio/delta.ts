/**
 * Counter deltas per (proxy, series) and the choice between reporters. Pure state machine, no I/O.
 * Policy (docs/adr/0050-istio-counter-deltas.md):
 *  - a series seen for the first time reports its whole value (traffic since the proxy started
 *    that nobody has reported yet);
 *  - a value lower than the previous one is a counter reset (proxy restart): the new value is the delta;
 *  - a source's state is replaced by its latest page, so series that vanished are forgotten, and
 *    sources (pods) that vanished are dropped with `retain`.
 */
import type { HttpObservation, Observation, WorkloadTcpObservation } from '../../mapper/contract/index.ts';
import type { Edge, EdgeTable, PageAggregate } from './series.ts';

export interface EdgeDelta {
  edge: Edge;
  count: number;
}

/**
 * A committed page's deltas, as two columns: delta k is `edges[k]` with `counts[k]` (no object per
 * delta: a busy proxy changes every edge on every scrape, ADR 0054). Edges are shared by every
 * delta of that edge (the native engine's are frozen).
 */
export interface DeltaResult {
  edges: Edge[];
  counts: Float64Array;
  /** Series seen for the first time on this source. */
  firstSeen: number;
  /** Series whose counter went down (proxy restart). */
  resets: number;
}

/** The deltas of a result as objects (tests, tools). */
export function deltaList(r: DeltaResult): EdgeDelta[] {
  return r.edges.map((edge, k) => ({ edge, count: r.counts[k] as number }));
}

interface Tracked {
  edge: Edge;
  /** Value at the last committed page; undefined until one was. */
  last: number | undefined;
  /** Sum on the page being read (valid when gen is the current page's). */
  cur: number;
  gen: number;
}

/**
 * One proxy's series, updated in place while its page is parsed: a steady page costs one map
 * lookup per series and allocates nothing. Values of a page count only once it is committed.
 */
class SourceState implements EdgeTable {
  readonly map = new Map<string, Tracked>();
  gen = 0;
  addTo(key: string, value: number): boolean {
    const t = this.map.get(key);
    if (t === undefined) return false;
    if (t.gen === this.gen) t.cur += value;
    else {
      t.gen = this.gen;
      t.cur = value;
    }
    return true;
  }
  insert(key: string, edge: Edge, value: number): void {
    this.map.set(key, { edge, last: undefined, cur: value, gen: this.gen });
  }
}

/** A page being read for one source: feed `table` to an aggregator, then `commit()` if it was read whole. */
export interface PageRun {
  table: EdgeTable;
  /** Turns the page into deltas; adds the servers the page reported as destination to `covered`. */
  commit(covered?: Set<string>): DeltaResult;
}

export class CounterDeltas {
  readonly #bySource = new Map<string, SourceState>();

  begin(sourceId: string): PageRun {
    let state = this.#bySource.get(sourceId);
    if (state === undefined) {
      state = new SourceState();
      this.#bySource.set(sourceId, state);
    }
    state.gen++;
    const st = state;
    const gen = state.gen;
    return {
      table: st,
      commit(covered) {
        const edges: Edge[] = [];
        const counts: number[] = [];
        let firstSeen = 0;
        let resets = 0;
        for (const [key, t] of st.map) {
          if (t.gen !== gen) {
            st.map.delete(key); // not on this page any more: forget it
            continue;
          }
          let delta: number;
          if (t.last === undefined) {
            firstSeen++;
            delta = t.cur;
          } else if (t.cur < t.last) {
            resets++;
            delta = t.cur;
          } else delta = t.cur - t.last;
          t.last = t.cur;
          const count = Math.round(delta);
          if (count >= 1) {
            edges.push(t.edge);
            counts.push(count);
          }
          if (covered !== undefined && t.edge.reporter === 'destination') covered.add(serverKey(t.edge));
        }
        return { edges, counts: Float64Array.from(counts), firstSeen, resets };
      },
    };
  }

  /** Applies a whole page aggregated on its own (tests, tools): begin + copy + commit. */
  apply(sourceId: string, page: PageAggregate): DeltaResult {
    const run = this.begin(sourceId);
    for (const [key, { edge, value }] of page.edges) {
      if (!run.table.addTo(key, value)) run.table.insert(key, edge, value);
    }
    return run.commit();
  }

  /** Forgets every source not in `alive`; returns how many were dropped. */
  retain(alive: ReadonlySet<string>): number {
    let dropped = 0;
    for (const id of [...this.#bySource.keys()]) {
      if (!alive.has(id)) {
        this.#bySource.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  get sources(): number {
    return this.#bySource.size;
  }
}

export const serverKey = (e: Edge): string => `${e.metric}\u0001${e.server.namespace}\u0001${e.server.name}`;

/** Adds to `into` the servers whose own proxy reported this page (reporter="destination" series). */
export function coveredServers(page: PageAggregate, into: Set<string> = new Set()): Set<string> {
  for (const { edge } of page.edges.values()) if (edge.reporter === 'destination') into.add(serverKey(edge));
  return into;
}

/**
 * Both proxies of a mesh call count it (reporter="source" on the client, "destination" on the
 * server). The destination view wins: a source-reported delta is dropped when the server's own
 * proxy was scraped in the same tick (`covered`, from coveredServers over the tick's pages).
 * Waypoint deltas are always kept (ambient workloads have no sidecars to double count with).
 * Calls `keep` for every kept delta, in order; returns how many were dropped.
 */
export function dedupeReporters(
  covered: ReadonlySet<string>,
  results: readonly DeltaResult[],
  keep: (edge: Edge, count: number) => void,
): number {
  let dropped = 0;
  for (const r of results) {
    const { edges, counts } = r;
    for (let k = 0; k < edges.length; k++) {
      const e = edges[k] as Edge;
      if (e.reporter === 'source' && covered.has(serverKey(e))) dropped++;
      else keep(e, counts[k] as number);
    }
  }
  return dropped;
}

/** Builds the wire observation for one delta. */
export function toObservation(e: Edge, count: number, time: number): Observation {
  if (e.metric === 'istio_tcp_connections_opened_total') {
    const o: WorkloadTcpObservation = {
      kind: 'workload-tcp',
      client: e.client,
      server: e.server,
      count,
      time,
    };
    return o;
  }
  const o: HttpObservation = {
    kind: 'http',
    client: e.client,
    server: e.server,
    count,
    time,
    reporter: e.reporter,
  };
  if (e.serverService !== undefined) o.serverService = e.serverService;
  if (e.method !== undefined) o.method = e.method;
  if (e.path !== undefined) o.path = e.path;
  return o;
}
