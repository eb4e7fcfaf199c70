import fs from 'node:fs';
import test from 'ava';
import { Router } from 'express';
import { parse, parseAllDocuments } from 'yaml';
import { API_ROUTES, createMapperApp } from '../../../mapper/api/app.ts';
import { MapperClient } from '../../../mapper/client/index.ts';
import {
  type CompactGraphResponse,
  type CompactIntentsResponse,
  type ErrorBody,
  expandGraph,
  expandIntents,
  type GraphResponse,
  type IngestReceipt,
  type IntentsResponse,
} from '../../../mapper/contract/index.ts';
import { SNAPSHOT_ROUTES } from '../../../mapper/snapshots/router.ts';
import { openMapStore } from '../../../mapper/store/index.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';
import { crdErrors, crdValidators } from '../../unit/mapper/crd-validator.ts';
import { batch, shopResolver, T0, tcp } from '../../unit/mapper/fixtures.ts';
import { startTestMapper } from './harness.ts';

const sample = () =>
  batch([
    tcp('10.0.0.1', '10.96.0.2', 8080),
    {
      kind: 'http',
      client: { name: 'checkout', namespace: 'shop' },
      server: { name: 'payments', namespace: 'billing' },
      serverService: 'payments',
      method: 'POST',
      path: '/charge',
      count: 2,
      time: T0,
    },
    { kind: 'dns', clientIp: '10.0.0.3', name: 'api.stripe.com', ips: ['52.1.1.1'], ttl: 60, time: T0 },
    tcp('10.0.0.3', '52.1.1.1', 443, T0 + 10),
    tcp('10.9.9.9', '10.0.0.2', 80),
  ]);

test('ingest → 202 receipt → intents, graph and clientintents reflect it', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const b = sample();
  const res = await m.post(b);
  t.is(res.status, 202);
  t.deepEqual((await res.json()) as IngestReceipt, { batchId: b.batchId, accepted: 5, duplicate: false });

  const intents = ((await (await m.get('/api/v1/intents')).json()) as IntentsResponse).intents;
  t.deepEqual(
    intents.map((i) => `${i.client.name}>${i.server?.name}`),
    ['checkout>payments', 'frontend>checkout'],
  );
  const withExt = ((await (await m.get('/api/v1/intents?external=true')).json()) as IntentsResponse).intents;
  t.is(withExt.length, 3);
  t.deepEqual(withExt.find((i) => i.external)?.ports, [443]);
  const asSvc = (
    (await (await m.get('/api/v1/intents?asKubernetesService=true&namespaces=shop')).json()) as IntentsResponse
  ).intents;
  t.deepEqual(
    asSvc.map((i) => `${i.server?.kind}:${i.server?.name}`),
    ['Service:payments', 'Service:checkout-svc'],
  );
  const byServer = ((await (await m.get('/api/v1/intents?server=payments.billing')).json()) as IntentsResponse).intents;
  t.is(byServer.length, 1);

  const graph = (await (await m.get('/api/v1/graph')).json()) as GraphResponse;
  t.is(graph.edges.length, 2);
  t.is(graph.nodes.length, 3);

  const ci = await m.get('/api/v1/clientintents?external=true');
  t.is(ci.status, 200);
  t.regex(ci.headers.get('content-type') ?? '', /yaml/);
  const docs = parseAllDocuments(await ci.text()).map((d) => d.toJS() as object);
  t.is(docs.length, 3);
  const v = crdValidators();
  for (const d of docs) t.is(crdErrors(v, d), '');
  const ciJson = await m.get('/api/v1/clientintents?format=json&outputVersion=v1alpha3');
  const list = (await ciJson.json()) as { kind: string; items: object[] };
  t.is(list.kind, 'List');
  for (const d of list.items) t.is(crdErrors(v, d), '');
});

test('a retried batch is answered 202 duplicate:true and counted once', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const b = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  t.is((await m.post(b)).status, 202);
  const again = await m.post(b);
  t.is(again.status, 202);
  t.deepEqual((await again.json()) as IngestReceipt, { batchId: b.batchId, accepted: 1, duplicate: true });
  const intents = ((await (await m.get('/api/v1/intents')).json()) as IntentsResponse).intents;
  t.is(intents[0]?.count, 1);
  const metrics = await (await m.get('/metrics')).text();
  t.regex(metrics, /callmap_reports_duplicate_total\{source="sniffer"\} 1/);
  t.regex(metrics, /callmap_observations_total\{kind="tcp"\} 1/);
});

test('a malformed batch is 400 with an ErrorBody naming the field', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const b = batch([
    tcp('10.0.0.1', '10.0.0.2', 80),
    { ...tcp('10.0.0.1', '10.0.0.2', 80), serverPort: 70000 } as never,
  ]);
  const res = await m.post(b);
  t.is(res.status, 400);
  const body = (await res.json()) as ErrorBody;
  t.is(body.error.code, 'CONTRACT_INVALID');
  t.is(body.error.details?.['path'], 'batch.observations[1].serverPort');
  t.regex(body.error.message, /observations\[1\]\.serverPort/);
  t.is(m.store.edgeCount, 0);
  t.regex(
    await (await m.get('/metrics')).text(),
    /callmap_reports_rejected_total\{source="sniffer",reason="invalid"\} 1/,
  );
});

test('a body over the limit is 413 with an ErrorBody', async (t) => {
  const m = await startTestMapper({ maxBodyBytes: 10_000 });
  t.teardown(() => m.close());
  const obs = Array.from({ length: 200 }, (_, i) => tcp('10.0.0.1', '10.0.0.2', 1 + i));
  const res = await m.post(batch(obs));
  t.is(res.status, 413);
  const body = (await res.json()) as ErrorBody;
  t.is(body.error.code, 'BODY_TOO_LARGE');
  t.is(body.error.details?.['limit'], 10_000);
});

test('a wrong content type is 415; garbage JSON is 400; both with ErrorBody', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const r1 = await m.post(undefined, { contentType: 'text/plain', raw: '{}' });
  t.is(r1.status, 415);
  t.is(((await r1.json()) as ErrorBody).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const r2 = await m.post(undefined, { raw: '{"batchId": "x", "observations": [' });
  t.is(r2.status, 400);
  t.is(((await r2.json()) as ErrorBody).error.code, 'BAD_JSON');
  const r3 = await m.post(undefined, { raw: '"just a string"' });
  t.is(r3.status, 400);
  const r4 = await m.post(undefined, { raw: '[1,2]' });
  t.is(r4.status, 400);
  t.is(((await r4.json()) as ErrorBody).error.details?.['path'], 'batch');
});

test('ingest before the resolver is ready is 503 with Retry-After; readyz follows readiness', async (t) => {
  const resolver = new StaticResolver({ ready: false });
  const m = await startTestMapper({ resolver });
  t.teardown(() => m.close());
  const res = await m.post(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
  t.is(res.status, 503);
  t.is(res.headers.get('retry-after'), '2');
  t.is(((await res.json()) as ErrorBody).error.code, 'NOT_READY');
  t.is((await m.get('/readyz')).status, 503);
  t.is((await m.get('/healthz')).status, 200);
  resolver.readyFlag = true;
  t.is((await m.get('/readyz')).status, 200);
});

test('compact=true: the same intents with identities sent once; MapperClient asks for it and expands it', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  await m.post(sample());
  const client = new MapperClient(m.url);
  t.teardown(() => client.close());
  for (const q of ['', 'external=true', 'asKubernetesService=true&namespaces=shop', 'server=payments.billing']) {
    const full = (await (await m.get(`/api/v1/intents?${q}`)).json()) as IntentsResponse;
    const res = await m.get(`/api/v1/intents?${q}&compact=true`);
    t.is(res.status, 200);
    const compact = (await res.json()) as CompactIntentsResponse;
    t.true(Array.isArray(compact.workloads), q);
    t.true(
      compact.intents.every((i) => typeof i.client === 'number'),
      q,
    );
    t.deepEqual(expandIntents(compact), full, q);
    const params = Object.fromEntries(new URLSearchParams(q));
    const viaClient = await client.intents({
      ...(params['namespaces'] ? { namespaces: params['namespaces'].split(',') } : {}),
      ...(params['server'] ? { server: params['server'] } : {}),
      external: params['external'] === 'true',
      asKubernetesService: params['asKubernetesService'] === 'true',
    });
    t.deepEqual(viaClient, full, q);
  }
  t.is((await m.get('/api/v1/intents?compact=maybe')).status, 400);
});

test('graph compact=true: same graph with nodes once and edges by index; MapperClient.graph asks for it and expands it', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  await m.post(sample());
  const client = new MapperClient(m.url);
  t.teardown(() => client.close());
  for (const q of ['', 'external=true', 'namespaces=shop', 'asKubernetesService=true', 'server=payments.billing']) {
    const fullText = await (await m.get(`/api/v1/graph?${q}`)).text();
    const res = await m.get(`/api/v1/graph?${q}&compact=true`);
    t.is(res.status, 200);
    const text = await res.text();
    const compact = JSON.parse(text) as CompactGraphResponse;
    t.true(
      compact.edges.every((e) => typeof e.source === 'number' && !('client' in e.intent)),
      q,
    );
    // Twice: the second answer comes from the cache.
    t.is(await (await m.get(`/api/v1/graph?${q}&compact=true`)).text(), text, q);
    t.is(JSON.stringify(expandGraph(compact)), fullText, q);
    const params = Object.fromEntries(new URLSearchParams(q));
    const viaClient = await client.graph({
      ...(params['namespaces'] ? { namespaces: params['namespaces'].split(',') } : {}),
      ...(params['server'] ? { server: params['server'] } : {}),
      external: params['external'] === 'true',
      asKubernetesService: params['asKubernetesService'] === 'true',
    });
    t.is(JSON.stringify(viaClient), fullText, q);
  }
  t.true(((await (await m.get('/api/v1/graph')).json()) as GraphResponse).edges.length > 0);
  t.is((await m.get('/api/v1/graph?compact=maybe')).status, 400);
});

test('bad query parameters are 400; unknown API paths are 404 JSON', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  for (const q of ['server=nodot', 'external=maybe', 'excludeLabels==x']) {
    const r = await m.get(`/api/v1/intents?${q}`);
    t.is(r.status, 400, q);
    t.is(((await r.json()) as ErrorBody).error.code, 'BAD_QUERY');
  }
  const r = await m.get('/api/v1/clientintents?format=xml');
  t.is(r.status, 400);
  const nf = await m.get('/api/v1/nope');
  t.is(nf.status, 404);
  t.is(((await nf.json()) as ErrorBody).error.code, 'NOT_FOUND');
});

test('reset returns how many entries it removed', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  await m.post(sample());
  const r = await fetch(`${m.url}/api/v1/reset`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  t.deepEqual(await r.json(), { removed: 3 });
  t.is(((await (await m.get('/api/v1/intents?external=true')).json()) as IntentsResponse).intents.length, 0);
});

test('extra routers mount before the web map; unknown errors are a fixed 500 without a stack', async (t) => {
  const r = Router();
  r.get('/boom', () => {
    throw new Error('secret internals at /some/file.ts:12');
  });
  r.get('/', (_req, res) => {
    res.json({ snapshots: [] });
  });
  const logged: string[] = [];
  const m = await startTestMapper({
    extraRouters: [{ path: '/api/v1/snapshots', router: r }],
    log: (l) => logged.push(l),
  });
  t.teardown(() => m.close());
  t.deepEqual(await (await m.get('/api/v1/snapshots')).json(), { snapshots: [] });
  const res = await m.get('/api/v1/snapshots/boom');
  t.is(res.status, 500);
  const text = await res.text();
  t.deepEqual(JSON.parse(text), { error: { code: 'INTERNAL', message: 'internal error in the mapper; see its log' } });
  t.false(text.includes('secret'));
  t.true(logged.some((l) => l.includes('secret internals')));
});

test('/metrics passes promtool check metrics', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  await m.post(sample());
  await m.post(undefined, { contentType: 'text/plain', raw: 'x' });
  await m.get('/api/v1/intents');
  const text = await (await m.get('/metrics')).text();
  for (const name of [
    'callmap_reports_received_total',
    'callmap_reports_rejected_total',
    'callmap_observations_total',
    'callmap_unresolved_total',
    'callmap_intents',
    'callmap_http_request_duration_seconds_bucket',
  ]) {
    t.true(text.includes(name), name);
  }
  t.regex(text, /callmap_intents 3/);
  t.regex(text, /callmap_unresolved_total\{kind="tcp",reason="unknown-ip"\} 1/);
  const { code, output } = await promtoolCheckMetrics(text);
  t.is(code, 0, output);
});

test('the OpenAPI document parses, is 3.1, is served, and covers every route the app registers', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const res = await m.get('/api/v1/openapi.yaml');
  t.is(res.status, 200);
  const served = await res.text();
  const doc = parse(served) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.is(doc.openapi, '3.1.0');
  t.is(served, fs.readFileSync(new URL('../../../mapper/openapi.yaml', import.meta.url), 'utf8'));
  // Routes as Express actually registered them (not just our constant).
  const store = openMapStore({ path: ':memory:' });
  const { app, beginShutdown } = createMapperApp({ store, resolver: shopResolver(), web: null });
  t.teardown(() => {
    beginShutdown();
    store.close();
  });
  const stack = (
    app as unknown as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } }
  ).router.stack;
  const registered = stack.flatMap((l) =>
    l.route ? Object.keys(l.route.methods).map((method) => `${method} ${l.route?.path}`) : [],
  );
  t.deepEqual(registered.sort(), API_ROUTES.map(([mth, p]) => `${mth} ${p}`).sort());
  for (const r of registered) {
    const [method, p] = r.split(' ') as [string, string];
    t.truthy(doc.paths[p]?.[method], `${r} missing from openapi.yaml`);
  }
  // Everything documented is served: our routes plus the snapshots router mounted by main.ts.
  const mounted = SNAPSHOT_ROUTES.map(([mth, p]) => `${mth} ${p}`);
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((mth) => `${mth} ${p}`));
  t.deepEqual(documented.sort(), [...registered, ...mounted].sort());
});

test('SSE: a map-changed event arrives after an ingest; the stream ends cleanly on shutdown', async (t) => {
  const m = await startTestMapper({ events: { throttleMs: 200, heartbeatMs: 50 } });
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const res = await fetch(`${m.url}/api/v1/events`, { signal: ac.signal });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const readUntil = async (pred: (s: string) => boolean): Promise<boolean> => {
    while (!pred(buf)) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += dec.decode(value);
    }
    return true;
  };
  await readUntil((s) => s.includes(': connected'));
  await m.post(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
  await m.post(batch([tcp('10.0.0.1', '10.0.0.3', 80)]));
  t.true(await readUntil((s) => /event: map-changed\ndata: \{"count":2,"at":\d+\}/.test(s)));
  t.true(await readUntil((s) => s.includes(': ping')));
  const closed = m.close();
  t.false(await readUntil(() => false));
  await closed;
});
