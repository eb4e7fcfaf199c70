import { readFileSync } from 'node:fs';
import test from 'ava';
import { decodeIstioStatName, parseEnvoyStatsJson } from '../../../watchers/istio/envoy-json.ts';
import { createPageParser } from '../../../watchers/istio/page.ts';
import { createAggregator } from '../../../watchers/istio/series.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/istio/${name}`, import.meta.url));

test('stat names: values with dots are kept whole (/index.html, service FQDN, principal, version)', (t) => {
  const d = decodeIstioStatName(
    'istiocustom.istio_requests_total.reporter.source.source_workload.a.source_principal.spiffe://cluster.local/ns/x/sa/a.source_version.v1.2.3.destination_service.b.x.svc.cluster.local.grpc_response_status..request_path./static/index.html.request_method.GET',
  );
  t.is(d?.metric, 'istio_requests_total');
  t.is(d?.tags.get('reporter'), 'source');
  t.is(d?.tags.get('source_principal'), 'spiffe://cluster.local/ns/x/sa/a');
  t.is(d?.tags.get('source_version'), 'v1.2.3');
  t.is(d?.tags.get('destination_service'), 'b.x.svc.cluster.local');
  t.is(d?.tags.get('grpc_response_status'), '');
  t.is(d?.tags.get('request_path'), '/static/index.html');
  t.is(d?.tags.get('request_method'), 'GET');
});

test('stat names: request_path last, with dots and a query', (t) => {
  const d = decodeIstioStatName('istiocustom.istio_requests_total.reporter.destination.request_path./a/b.c.d?x=.y');
  t.is(d?.tags.get('request_path'), '/a/b.c.d?x=.y');
});

test('stat names: other metrics and other stats are not Istio counters', (t) => {
  t.is(decodeIstioStatName('istiocustom.istio_request_bytes.reporter.source'), undefined);
  t.is(decodeIstioStatName('istiocustom.istio_requests_totalx.reporter.source'), undefined);
  t.is(decodeIstioStatName('cluster.outbound|80||a.b.svc.cluster.local.upstream_rq_total'), undefined);
  t.deepEqual(decodeIstioStatName('istiocustom.istio_tcp_connections_opened_total')?.tags.size, 0);
});

test('admin JSON page: edges, codes summed, passthrough and bad values counted', (t) => {
  const agg = createAggregator({ templatePaths: false });
  t.true(parseEnvoyStatsJson(fixture('envoy-admin.json'), agg));
  const r = agg.result();
  const e = [...r.edges.values()].map(({ edge, value }) => ({ ...edge, value }));
  t.deepEqual(
    e.map((x) => [x.reporter, x.client.name, x.server.name, x.serverService, x.method, x.path, x.value]),
    [
      ['destination', 'productpage-v1', 'reviews-v1', 'reviews', 'GET', '/static/index.html', 50],
      ['source', 'reviews-v1', 'ratings-v1', 'ratings', 'POST', '/ratings/v1.2/rate.json', 5],
      ['destination', 'productpage-v1', 'details-v1', 'details', undefined, undefined, 3],
    ],
  );
  t.is(r.skipped.passthrough, 1);
  t.is(r.skipped['invalid-value'], 1);
  t.is(r.withoutPathLabel, 1);
});

test('legacy Wasm stat names (=.= and ;.;)', (t) => {
  const agg = createAggregator({ templatePaths: false });
  t.true(parseEnvoyStatsJson(fixture('envoy-admin-legacy-wasm.json'), agg));
  const [only] = [...agg.result().edges.values()];
  t.is(only?.edge.path, '/reviews/0.json');
  t.is(only?.edge.server.name, 'reviews-v2');
  t.is(only?.value, 6);
});

test('not an Envoy stats document: reported as such, never thrown', (t) => {
  const agg = createAggregator({ templatePaths: false });
  t.false(parseEnvoyStatsJson('{"stats": 3}', agg));
  t.false(parseEnvoyStatsJson('{not json', agg));
  t.false(parseEnvoyStatsJson('null', agg));
  t.true(parseEnvoyStatsJson('{"stats":[null, 1, {"name": 5}, {"name":"istiocustom.istio_requests_total"}]}', agg));
});

test('page parser detects the format from the first byte', (t) => {
  const json = createAggregator({ templatePaths: false });
  const p1 = createPageParser(json);
  const page = fixture('envoy-admin.json');
  p1.push(Buffer.from('  \n'));
  p1.push(page.subarray(0, 10));
  p1.push(page.subarray(10));
  t.true(p1.end());
  t.is(p1.format(), 'envoy-json');
  t.is(json.result().edges.size, 3);
  const prom = createAggregator({ templatePaths: false });
  const p2 = createPageParser(prom);
  p2.push(fixture('waypoint.prom'));
  t.true(p2.end());
  t.is(p2.format(), 'prometheus');
  t.is(prom.result().edges.size, 2);
});
