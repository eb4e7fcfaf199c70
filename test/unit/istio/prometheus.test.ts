import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { createPrometheusParser, parsePrometheusText } from '../../../watchers/istio/prometheus.ts';
import { createAggregator, type Edge, type PageAggregate } from '../../../watchers/istio/series.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/istio/${name}`, import.meta.url));

function parse(page: Buffer | string, templatePaths = false): PageAggregate {
  const agg = createAggregator({ templatePaths });
  parsePrometheusText(page, agg);
  return agg.result();
}

const edges = (p: PageAggregate): Array<Edge & { value: number }> =>
  [...p.edges.values()].map(({ edge, value }) => ({ ...edge, value }));

test('Istio 1.22 sidecar page: edges by label name, query stripped, codes summed, unknown and passthrough skipped', (t) => {
  const p = parse(fixture('sidecar-istio-1.22.prom'));
  t.is(p.parsed, 7);
  t.is(p.skipped.passthrough, 1);
  t.is(p.skipped['unknown-workload'], 2); // legacy (no sidecar on server) and the plain-HTTP health check
  t.deepEqual(
    edges(p).sort((a, b) => (a.path ?? '').localeCompare(b.path ?? '')),
    [
      {
        metric: 'istio_requests_total',
        reporter: 'source',
        client: { name: 'frontend', namespace: 'shop' },
        server: { name: 'orders', namespace: 'shop' },
        serverService: 'orders',
        method: 'GET',
        path: '/api/orders',
        value: 15,
      },
      {
        metric: 'istio_requests_total',
        reporter: 'source',
        client: { name: 'frontend', namespace: 'shop' },
        server: { name: 'orders', namespace: 'shop' },
        serverService: 'orders',
        method: 'POST',
        path: '/api/orders/4711/items',
        value: 5,
      },
      {
        metric: 'istio_requests_total',
        reporter: 'destination',
        client: { name: 'checkout', namespace: 'shop' },
        server: { name: 'frontend', namespace: 'shop' },
        serverService: 'frontend',
        method: 'GET',
        path: '/index.html',
        value: 40,
      },
    ],
  );
});

test('--template-paths collapses ids', (t) => {
  const p = parse(fixture('sidecar-istio-1.22.prom'), true);
  t.true(edges(p).some((e) => e.path === '/api/orders/{id}/items'));
});

test('sorted labels, exotic spacing, escapes, timestamps, UTF-8, CRLF; bad lines counted', (t) => {
  const p = parse(fixture('sidecar-istio-1.8-sorted.prom'));
  const byClient = new Map(edges(p).map((e) => [`${e.client.name} ${e.path}`, e]));
  const r2 = byClient.get('reviews-v2 /ratings/0');
  t.truthy(r2);
  t.is(r2?.method, 'GET', 'method upper-cased');
  t.is(r2?.value, 36, 'timestamp ignored');
  const r3 = byClient.get('reviews-v3 /ratings/"quoted"/a\\b\nline');
  t.truthy(r3, 'escaped quote, backslash and newline decoded');
  t.is(r3?.value, 4);
  t.is(r3?.method, 'PUT');
  t.is(r3?.serverService, 'ratings');
  t.is(byClient.get('productpage-v1 /ratings/café')?.value, 2);
  t.is(byClient.get('productpage-v1 /ünïcödé/ratings')?.value, 1);
  t.is(byClient.get('crlf /crlf')?.value, 3);
  t.is(p.skipped['invalid-value'], 2, 'NaN and negative');
  t.is(p.skipped['malformed-line'], 3, 'unterminated label set, unquoted value, missing value');
  t.is(p.edges.size, 5);
});

test('ztunnel page: TCP connections opened; closed and other metrics ignored', (t) => {
  const p = parse(fixture('ztunnel.prom'));
  t.is(p.parsed, 3);
  t.is(p.skipped['unknown-workload'], 1);
  const e = edges(p);
  t.deepEqual(
    e.map((x) => [x.metric, x.reporter, x.client.name, x.server.name, x.value]),
    [
      ['istio_tcp_connections_opened_total', 'source', 'productpage-v1', 'details-v1', 25],
      ['istio_tcp_connections_opened_total', 'destination', 'productpage-v1', 'reviews-v1', 8],
    ],
  );
});

test('waypoint page: reporter=waypoint, no request_path label counted', (t) => {
  const p = parse(fixture('waypoint.prom'));
  t.is(p.edges.size, 2);
  t.is(p.withoutPathLabel, 2);
  t.true(edges(p).every((e) => e.reporter === 'waypoint' && e.path === undefined && e.method === undefined));
});

test('streaming: every chunk split gives the same result as one push', (t) => {
  const page = Buffer.concat([fixture('sidecar-istio-1.22.prom'), fixture('sidecar-istio-1.8-sorted.prom')]);
  const whole = parse(page);
  for (const size of [1, 2, 3, 7, 64, 1000]) {
    const agg = createAggregator({ templatePaths: false });
    const parser = createPrometheusParser(agg);
    for (let i = 0; i < page.length; i += size) parser.push(page.subarray(i, i + size));
    parser.end();
    const r = agg.result();
    t.deepEqual([...r.edges.entries()], [...whole.edges.entries()], `chunk size ${size}`);
    t.deepEqual(r.skipped, whole.skipped, `chunk size ${size}`);
  }
});

test('a line longer than the cap is skipped and counted, the next line still parsed', (t) => {
  const agg = createAggregator({ templatePaths: false });
  const parser = createPrometheusParser(agg, { maxLineLength: 200 });
  const good =
    'istio_requests_total{reporter="destination",source_workload="a",source_workload_namespace="n",destination_workload="b",destination_workload_namespace="n"} 1\n';
  parser.push(Buffer.from(`istio_requests_total{reporter="${'x'.repeat(500)}`));
  parser.push(Buffer.from(`${'y'.repeat(500)}"} 1\n${good}`));
  parser.end();
  const r = agg.result();
  t.is(r.skipped['line-too-long'], 1);
  t.is(r.edges.size, 1);
});

test('garbage and binary input never throw', (t) => {
  const agg = createAggregator({ templatePaths: false });
  const junk = Buffer.alloc(10_000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 256;
  t.notThrows(() => parsePrometheusText(junk, agg));
  t.notThrows(() => parsePrometheusText('istio_requests_total{', agg));
  t.notThrows(() => parsePrometheusText('istio_requests_total{a="\\', agg));
  t.notThrows(() => parsePrometheusText('istio_requests_total', agg));
  t.is(agg.result().edges.size, 0);
});

test('a label value containing label-like text does not confuse the reader', (t) => {
  const p = parse(
    'istio_requests_total{reporter="destination",source_app="x,request_path=",source_workload="a",source_workload_namespace="n",destination_workload="b",destination_workload_namespace="n",request_path="/real"} 1\n',
  );
  t.deepEqual(
    edges(p).map((e) => e.path),
    ['/real'],
  );
});

test('a series without labels or without workloads is skipped and counted', (t) => {
  const p = parse('istio_requests_total 5\nistio_requests_total{reporter="source"} 3\n');
  t.is(p.skipped['unknown-reporter'], 1);
  t.is(p.skipped['unknown-workload'], 1);
});

test('namespace filter keeps edges with either side inside', (t) => {
  const agg = createAggregator({ templatePaths: false, namespaces: new Set(['other']) });
  parsePrometheusText(fixture('sidecar-istio-1.22.prom'), agg);
  t.is(agg.result().edges.size, 0);
  t.is(agg.result().skipped['other-namespace'], 4); // one per series
});

test('property: any label values in any order, escaped per the format, are read back exactly', (t) => {
  const escapeValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const value = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((v) => v !== 'unknown');
  fc.assert(
    fc.property(
      value,
      value,
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.constantFrom('', ' ', '\t'),
      fc.nat(1000),
      fc.integer({ min: 1, max: 4 }),
      (client, server, noise, blank, seed, chunk) => {
        const labels: Array<[string, string]> = [
          ['reporter', 'destination'],
          ['source_workload', client],
          ['source_workload_namespace', 'ns'],
          ['destination_workload', server],
          ['destination_workload_namespace', 'ns'],
          ['request_path', `/p/${client}`],
          ['source_app', noise],
          ['x_request_path', 'decoy'],
        ];
        // deterministic shuffle from the seed
        for (let i = labels.length - 1; i > 0; i--) {
          const j = (seed * (i + 7)) % (i + 1);
          [labels[i], labels[j]] = [labels[j] as [string, string], labels[i] as [string, string]];
        }
        const body = labels.map(([k, v]) => `${k}${blank}=${blank}"${escapeValue(v)}"`).join(`,${blank}`);
        const page = Buffer.from(`# TYPE istio_requests_total counter\nistio_requests_total{${body}} 3 1700000000\n`);
        const agg = createAggregator({ templatePaths: false });
        const parser = createPrometheusParser(agg);
        for (let i = 0; i < page.length; i += chunk) parser.push(page.subarray(i, i + chunk));
        parser.end();
        const got = [...agg.result().edges.values()];
        if (got.length !== 1) return false;
        const e = got[0]?.edge;
        const expectPath = `/p/${client}`.split(/[?#]/)[0];
        return e?.client.name === client && e.server.name === server && e.path === expectPath && got[0]?.value === 3;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
