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
import type { Edge, PageAggregate } from './series.ts';

export interface EdgeDelta {
  edge: Edge;
  count: number;
}

export interface DeltaResult {
  deltas: EdgeDelta[];
  /** Series seen for the first time on this source. */
  firstSeen: number;
  /** Series whose counter went down (proxy restart). */
  resets: number;
}

export class CounterDeltas {
  readonly #bySource = new Map<string, Map<string, number>>();

  /** Applies one successfully scraped page of `sourceId` and returns what changed since the last one. */
  apply(sourceId: string, page: PageAggregate): DeltaResult {
    const prev = this.#bySource.get(sourceId);
    const next = new Map<string, number>();
    const out: DeltaResult = { deltas: [], firstSeen: 0, resets: 0 };
    for (const [key, { edge, value }] of page.edges) {
      next.set(key, value);
      const before = prev?.get(key);
      let delta: number;
      if (before === undefined) {
        out.firstSeen++;
        delta = value;
      } else if (value < before) {
        out.resets++;
        delta = value;
      } else delta = value - before;
      const count = Math.round(delta);
      if (count >= 1) out.deltas.push({ edge, count });
    }
    this.#bySource.set(sourceId, next);
    return out;
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

const serverKey = (e: Edge): string => `${e.metric}\u0001${e.server.namespace}\u0001${e.server.name}`;

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
 */
export function dedupeReporters(
  covered: ReadonlySet<string>,
  deltas: readonly EdgeDelta[],
): { kept: EdgeDelta[]; dropped: number } {
  const kept: EdgeDelta[] = [];
  let dropped = 0;
  for (const d of deltas) {
    if (d.edge.reporter === 'source' && covered.has(serverKey(d.edge))) dropped++;
    else kept.push(d);
  }
  return { kept, dropped };
}

/** Builds the wire observation for one delta. */
export function toObservation(d: EdgeDelta, time: number): Observation {
  const e = d.edge;
  if (e.metric === 'istio_tcp_connections_opened_total') {
    const o: WorkloadTcpObservation = {
      kind: 'workload-tcp',
      client: e.client,
      server: e.server,
      count: d.count,
      time,
    };
    return o;
  }
  const o: HttpObservation = {
    kind: 'http',
    client: e.client,
    server: e.server,
    count: d.count,
    time,
    reporter: e.reporter,
  };
  if (e.serverService !== undefined) o.serverService = e.serverService;
  if (e.method !== undefined) o.method = e.method;
  if (e.path !== undefined) o.path = e.path;
  return o;
}
