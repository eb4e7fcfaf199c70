/** Snapshots REST API against a real mapper fed through POST /api/v1/reports. */
import fs from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import type { ErrorBody } from '../../../mapper/contract/index.ts';
import { SNAPSHOT_ROUTES } from '../../../mapper/snapshots/router.ts';
import { openSnapshotStore } from '../../../mapper/snapshots/store.ts';
import type { Snapshot, SnapshotDiff, SnapshotMeta } from '../../../mapper/snapshots/types.ts';
import { openMapStore } from '../../../mapper/store/sqlite-store.ts';
import { checkoutToPayments, external, frontendToCheckout, http, kafka, startSnapshotMapper } from './harness.ts';

type Named = { client: { name: string }; server?: { name: string }; external?: string | { domain: string } };
const edgeNames = (items: Named[]) =>
  items
    .map((e) => {
      const ext = typeof e.external === 'string' ? e.external : e.external?.domain;
      return `${e.client.name}>${e.server?.name ?? `ext:${ext}`}`;
    })
    .sort();

test('diff between snapshots: new edges, paths, methods, topics, denied attempts, externals; then removal after reset', async (t) => {
  const m = await startSnapshotMapper();
  t.teardown(() => m.close());
  t.is(await m.feed([frontendToCheckout(), http('GET', '/cart'), kafka('orders', 'produce', true)]), 202);

  const s1 = await m.json<Snapshot>('POST', '/api/v1/snapshots');
  t.is(s1.status, 201);
  t.is(s1.body.id, 1);
  t.deepEqual(edgeNames(s1.body.intents), ['checkout>kafka', 'frontend>checkout']);
  const first = await m.json<SnapshotDiff>('GET', '/api/v1/snapshots/1/diff');
  t.is(first.status, 200);
  t.is(first.body.from, null, 'no previous snapshot: from is null');
  t.is(first.body.totals.newEdges, 2);

  t.is(
    await m.feed([
      http('POST', '/cart'),
      http('GET', '/orders'),
      kafka('orders', 'consume', false),
      kafka('audit', 'produce', true),
      checkoutToPayments(),
      ...external(),
    ]),
    202,
  );
  const s2 = await m.json<Snapshot>('POST', '/api/v1/snapshots', {});
  t.is(s2.body.id, 2);
  const d = (await m.json<SnapshotDiff>('GET', '/api/v1/snapshots/2/diff?against=previous')).body;
  t.is(d.from?.id, 1);
  t.is(d.to.id, 2);
  t.deepEqual(edgeNames(d.newEdges), ['checkout>payments', 'payments>ext:api.stripe.com']);
  t.deepEqual(d.vanishedEdges, []);
  t.deepEqual(
    d.newHttp.map((h) => [h.path, h.methods, h.wholePath]),
    [
      ['/cart', ['POST'], false],
      ['/orders', ['GET'], true],
    ],
  );
  t.deepEqual(
    d.newKafka.map((k) => [k.client.name, k.server?.name, k.topic, k.operations]),
    [['checkout', 'kafka', 'audit', ['produce']]],
  );
  t.deepEqual(
    d.newDeniedKafka.map((k) => [k.resourceType, k.resourceName, k.operations]),
    [['Topic', 'orders', ['consume']]],
  );
  t.deepEqual(d.newExternals, [
    { domain: 'api.stripe.com', ips: ['52.1.1.1'], clients: [{ name: 'payments', namespace: 'billing' }] },
  ]);
  t.deepEqual(
    d.namespaces.map((n) => [n.namespace, n.newEdges, n.newExternals]),
    [
      ['billing', 1, 1],
      ['shop', 1, 0],
    ],
  );

  // Removal: reset the map, feed a subset, snapshot again.
  const reset = await m.json<{ removed: number }>('POST', '/api/v1/reset', {});
  t.true(reset.body.removed >= 4);
  t.is(await m.feed([frontendToCheckout(), http('GET', '/cart')]), 202);
  const s3 = await m.json<Snapshot>('POST', '/api/v1/snapshots');
  const d3 = (await m.json<SnapshotDiff>(`GET`, `/api/v1/snapshots/${s3.body.id}/diff`)).body;
  t.is(d3.from?.id, 2);
  t.deepEqual(d3.newEdges, []);
  t.deepEqual(edgeNames(d3.vanishedEdges), ['checkout>kafka', 'checkout>payments', 'payments>ext:api.stripe.com']);
  t.deepEqual(
    d3.removedHttp.map((h) => [h.path, h.methods]),
    [
      ['/cart', ['POST']],
      ['/orders', ['GET']],
    ],
  );
  t.is(d3.totals.removedKafka, 2);
  t.is(d3.totals.newDeniedKafka, 0);

  // Any two snapshots: 3 against 1.
  const d31 = (await m.json<SnapshotDiff>('GET', '/api/v1/snapshots/3/diff?against=1')).body;
  t.is(d31.from?.id, 1);
  t.deepEqual(edgeNames(d31.vanishedEdges), ['checkout>kafka']);
  t.is(d31.totals.newEdges, 0);

  // The list: newest first, without bodies.
  const list = (await m.json<{ snapshots: SnapshotMeta[] }>('GET', '/api/v1/snapshots')).body.snapshots;
  t.deepEqual(
    list.map((s) => s.id),
    [3, 2, 1],
  );
  t.false('intents' in (list[0] as object));
  t.is(list[1]?.totals.edges, 4);
  const one = await m.json<Snapshot>('GET', '/api/v1/snapshots/2');
  t.is(one.status, 200);
  t.deepEqual(one.body, s2.body);
});

test('namespace filter: only those clients, previous only among snapshots with the same filter', async (t) => {
  const m = await startSnapshotMapper();
  t.teardown(() => m.close());
  t.is(await m.feed([frontendToCheckout(), checkoutToPayments(), ...external()]), 202);
  await m.json('POST', '/api/v1/snapshots');
  const b = await m.json<Snapshot>('POST', '/api/v1/snapshots', { namespaces: ['billing'] });
  t.is(b.status, 201);
  t.deepEqual(b.body.namespaces, ['billing']);
  t.deepEqual(edgeNames(b.body.intents), ['payments>ext:api.stripe.com']);
  const d = (await m.json<SnapshotDiff>('GET', `/api/v1/snapshots/${b.body.id}/diff`)).body;
  t.is(d.from, null, 'the unfiltered snapshot is not the previous one of a filtered snapshot');
  const b2 = await m.json<Snapshot>('POST', '/api/v1/snapshots', { namespaces: ['billing'] });
  t.is((await m.json<SnapshotDiff>('GET', `/api/v1/snapshots/${b2.body.id}/diff`)).body.from?.id, b.body.id);
});

test('errors go through the mapper error body: 404 SNAPSHOT_NOT_FOUND, 400 bad id/query/body/JSON', async (t) => {
  const m = await startSnapshotMapper();
  t.teardown(() => m.close());
  await m.json('POST', '/api/v1/snapshots');
  const cases: Array<[string, string, unknown, number, string]> = [
    ['GET', '/api/v1/snapshots/99', undefined, 404, 'SNAPSHOT_NOT_FOUND'],
    ['GET', '/api/v1/snapshots/99/diff', undefined, 404, 'SNAPSHOT_NOT_FOUND'],
    ['GET', '/api/v1/snapshots/1/diff?against=42', undefined, 404, 'SNAPSHOT_NOT_FOUND'],
    ['GET', '/api/v1/snapshots/abc', undefined, 400, 'BAD_SNAPSHOT_ID'],
    ['GET', '/api/v1/snapshots/1/diff?against=last', undefined, 400, 'BAD_SNAPSHOT_ID'],
    ['GET', '/api/v1/snapshots?limit=0', undefined, 400, 'BAD_QUERY'],
    ['POST', '/api/v1/snapshots', { namespaces: 'shop' }, 400, 'BAD_SNAPSHOT_REQUEST'],
    ['POST', '/api/v1/snapshots', { namespaces: ['NOT valid'] }, 400, 'BAD_SNAPSHOT_REQUEST'],
  ];
  for (const [method, p, body, status, code] of cases) {
    const r = await m.json<ErrorBody>(method as 'GET', p, body);
    t.is(r.status, status, `${method} ${p}`);
    t.is(r.body.error.code, code, `${method} ${p}`);
    t.true(r.body.error.message.length > 20);
  }
  const raw = await fetch(`${m.url}/api/v1/snapshots`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"namespaces": [',
  });
  t.is(raw.status, 400);
  t.is(((await raw.json()) as ErrorBody).error.code, 'BAD_JSON');
  const huge = await m.json<ErrorBody>('POST', '/api/v1/snapshots', { namespaces: Array(20_000).fill('shop') });
  t.is(huge.status, 413);
  t.is(huge.body.error.code, 'BODY_TOO_LARGE');
  const list = (await m.json<{ snapshots: SnapshotMeta[] }>('GET', '/api/v1/snapshots')).body.snapshots;
  t.is(list.length, 1, 'rejected requests took no snapshot');
});

test('retention keep N is applied after each new snapshot', async (t) => {
  const m = await startSnapshotMapper({ retention: { keep: 2 } });
  t.teardown(() => m.close());
  await m.feed([frontendToCheckout()]);
  for (let i = 0; i < 4; i++) t.is((await m.json('POST', '/api/v1/snapshots')).status, 201);
  const list = (await m.json<{ snapshots: SnapshotMeta[] }>('GET', '/api/v1/snapshots')).body.snapshots;
  t.deepEqual(
    list.map((s) => s.id),
    [4, 3],
  );
  t.is((await m.json<ErrorBody>('GET', '/api/v1/snapshots/1')).status, 404);
  t.is((await m.json<SnapshotDiff>('GET', '/api/v1/snapshots/4/diff')).body.from?.id, 3);
});

test('an acknowledged snapshot is on disk: it survives the mapper closing and reopening the file', async (t) => {
  const m = await startSnapshotMapper();
  await m.feed([frontendToCheckout(), http('GET', '/cart')]);
  const s = (await m.json<Snapshot>('POST', '/api/v1/snapshots')).body;
  await m.close();
  const map = openMapStore({ path: ':memory:' });
  const reopened = openSnapshotStore({ path: m.snapshotPath, map });
  t.teardown(() => {
    reopened.close();
    map.close();
  });
  t.deepEqual(reopened.get(s.id), s);
});

test('the OpenAPI document describes every snapshot route', async (t) => {
  const doc = parse(fs.readFileSync(new URL('../../../mapper/openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, unknown>>;
  };
  for (const [method, p] of SNAPSHOT_ROUTES)
    t.truthy(doc.paths[p]?.[method], `${method} ${p} missing from openapi.yaml`);
  const documented = Object.entries(doc.paths)
    .filter(([p]) => p.startsWith('/api/v1/snapshots'))
    .flatMap(([p, ops]) => Object.keys(ops).map((mth) => `${mth} ${p}`));
  t.deepEqual(documented.sort(), SNAPSHOT_ROUTES.map(([mth, p]) => `${mth} ${p}`).sort());
});
