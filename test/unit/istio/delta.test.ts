import test from 'ava';
import { parseReportBatch } from '../../../mapper/contract/index.ts';
import {
  CounterDeltas,
  coveredServers,
  type DeltaResult,
  dedupeReporters,
  deltaList,
  toObservation,
} from '../../../watchers/istio/delta.ts';
import { parsePrometheusText } from '../../../watchers/istio/prometheus.ts';
import { createAggregator, type PageAggregate } from '../../../watchers/istio/series.ts';

const line = (reporter: string, client: string, server: string, path: string, v: number): string =>
  `istio_requests_total{reporter="${reporter}",source_workload="${client}",source_workload_namespace="ns",destination_workload="${server}",destination_workload_namespace="ns",request_path="${path}",request_method="GET"} ${v}\n`;

function page(text: string): PageAggregate {
  const agg = createAggregator({ templatePaths: false });
  parsePrometheusText(text, agg);
  return agg.result();
}

const counts = (r: DeltaResult): Record<string, number> =>
  Object.fromEntries(deltaList(r).map((d) => [d.edge.path ?? '', d.count]));

test('first sight reports the whole counter, then only increases', (t) => {
  const d = new CounterDeltas();
  const r1 = d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 10) + line('destination', 'a', 'b', '/y', 1)));
  t.deepEqual(counts(r1), { '/x': 10, '/y': 1 });
  t.is(r1.firstSeen, 2);
  const r2 = d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 15) + line('destination', 'a', 'b', '/y', 1)));
  t.deepEqual(counts(r2), { '/x': 5 }, 'unchanged series are not re-reported');
  t.is(r2.firstSeen, 0);
});

test('counter reset (proxy restart): the new value is the delta', (t) => {
  const d = new CounterDeltas();
  d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 100)));
  const r = d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 7)));
  t.deepEqual(counts(r), { '/x': 7 });
  t.is(r.resets, 1);
  const r2 = d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 9)));
  t.deepEqual(counts(r2), { '/x': 2 });
});

test('state is per source; vanished sources are dropped', (t) => {
  const d = new CounterDeltas();
  d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 10)));
  d.apply('pod-b', page(line('destination', 'a', 'b', '/x', 10)));
  t.deepEqual(counts(d.apply('pod-b', page(line('destination', 'a', 'b', '/x', 12)))), { '/x': 2 });
  t.is(d.retain(new Set(['pod-b'])), 1);
  t.is(d.sources, 1);
  t.deepEqual(counts(d.apply('pod-a', page(line('destination', 'a', 'b', '/x', 11)))), { '/x': 11 });
});

test('source-reported deltas are dropped when the server proxy reports as destination', (t) => {
  const client = page(line('source', 'a', 'b', '/x', 3) + line('source', 'a', 'c', '/z', 4));
  const server = page(line('destination', 'other', 'b', '/w', 1));
  const d = new CounterDeltas();
  const results = [d.apply('client', client), d.apply('server', server)];
  const kept: string[] = [];
  const dropped = dedupeReporters(coveredServers(server, coveredServers(client)), results, (e, count) =>
    kept.push(`${e.reporter} ${e.server.name} ${count}`),
  );
  t.is(dropped, 1);
  t.deepEqual(kept, ['source c 4', 'destination b 1']);
});

test('observations built from deltas pass the wire contract', (t) => {
  const p = page(
    line('destination', 'a', 'b', '/x', 3) +
      'istio_tcp_connections_opened_total{reporter="source",source_workload="a",source_workload_namespace="ns",destination_workload="db",destination_workload_namespace="ns"} 2\n',
  );
  const r = new CounterDeltas().apply('p', p);
  const observations = deltaList(r).map((x) => toObservation(x.edge, x.count, 1_700_000_000_000));
  const batch = parseReportBatch({
    batchId: 'b1',
    reporter: { component: 'istio-watcher', instance: 'test' },
    sentAt: 1_700_000_000_000,
    observations,
  });
  t.deepEqual(
    batch.observations.map((o) => o.kind),
    ['http', 'workload-tcp'],
  );
  t.like(batch.observations[0], { kind: 'http', method: 'GET', path: '/x', count: 3, reporter: 'destination' });
});

test('a page that was not committed (failed scrape) leaves the state as it was', (t) => {
  const d = new CounterDeltas();
  const feed = (text: string) => {
    const run = d.begin('pod-a');
    parsePrometheusText(text, createAggregator({ templatePaths: false }, run.table));
    return run;
  };
  t.deepEqual(counts(feed(line('destination', 'a', 'b', '/x', 10)).commit()), { '/x': 10 });
  feed(line('destination', 'a', 'b', '/x', 50) + line('destination', 'a', 'b', '/new', 5)); // never committed
  const r = feed(line('destination', 'a', 'b', '/x', 12)).commit();
  t.deepEqual(counts(r), { '/x': 2 }, 'relative to the last committed page; /new forgotten');
  const covered = new Set<string>();
  feed(line('destination', 'a', 'b', '/x', 13)).commit(covered);
  t.is(covered.size, 1, 'destination series mark their server as covered');
});

test('duplicate series on one page are summed before the delta', (t) => {
  const d = new CounterDeltas();
  const run = d.begin('p');
  parsePrometheusText(
    line('destination', 'a', 'b', '/x?q=1', 3) + line('destination', 'a', 'b', '/x?q=2', 4),
    createAggregator({ templatePaths: false }, run.table),
  );
  t.deepEqual(counts(run.commit()), { '/x': 7 });
});
