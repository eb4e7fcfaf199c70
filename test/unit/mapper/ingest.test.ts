import test from 'ava';
import type { Observation } from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import { buildGraph, buildIntents, openMapStore, type WriterMode } from '../../../mapper/store/index.ts';
import { batch, shopResolver, T0, tcp, W } from './fixtures.ts';

function setup(writer: WriterMode = 'thread') {
  const store = openMapStore({ path: ':memory:', writer });
  const resolver = shopResolver();
  const metrics = { obs: 0, unresolved: [] as string[], dropped: [] as string[] };
  const pipe = createIngestPipeline({
    resolver,
    store,
    clock: () => T0,
    metrics: {
      observations: (_k, n) => {
        metrics.obs += n;
      },
      unresolved: (k, r, n) => metrics.unresolved.push(`${k}:${r}:${n}`),
      dropped: (k, r, n) => metrics.dropped.push(`${k}:${r}:${n}`),
    },
  });
  return { store, resolver, pipe, metrics };
}

test('tcp: client and server IPs resolve to workloads; the ClusterIP gives the service; ports aggregate', async (t) => {
  const { store, pipe } = setup();
  const r = await pipe.ingest(
    batch([tcp('10.0.0.1', '10.96.0.2', 8080), tcp('10.0.0.1', '10.96.0.2', 8080), tcp('10.0.0.1', '10.0.0.2', 9090)]),
  );
  t.deepEqual(r.duplicate, false);
  t.is(r.accepted, 3);
  const intents = buildIntents(store);
  t.is(intents.length, 1);
  t.deepEqual(intents[0]?.client, W.frontend);
  t.deepEqual(intents[0]?.server, W.checkout);
  t.deepEqual(intents[0]?.ports, [8080, 9090]);
  t.is(intents[0]?.count, 3);
  t.deepEqual(intents[0]?.viaService, { name: 'checkout-svc', namespace: 'shop' });
});

test('asKubernetesService reports the Service the traffic went through; direct pod traffic stays on the workload', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(batch([tcp('10.0.0.1', '10.96.0.2', 8080), tcp('10.0.0.1', '10.0.0.2', 9090)]));
  const intents = buildIntents(store, { asKubernetesService: true });
  t.is(intents.length, 2);
  const svc = intents.find((i) => i.server?.kind === 'Service');
  t.deepEqual(svc?.server, { name: 'checkout-svc', namespace: 'shop', kind: 'Service' });
  t.deepEqual(svc?.ports, [8080]);
  const direct = intents.find((i) => i.server?.kind === 'Deployment');
  t.deepEqual(direct?.ports, [9090]);
});

test('dns: an in-cluster name becomes an edge without ports', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(
    batch([
      { kind: 'dns', clientIp: '10.0.0.2', name: 'payments.billing.svc.cluster.local', ips: ['10.96.0.3'], time: T0 },
    ]),
  );
  const [it] = buildIntents(store);
  t.deepEqual(it?.server, W.payments);
  t.deepEqual(it?.ports, []);
});

test('dns: an external name is stored but shown only with external=true; a later tcp to its IP gets the port', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(
    batch([
      { kind: 'dns', clientIp: '10.0.0.3', name: 'api.stripe.com', ips: ['52.1.1.1', '52.1.1.2'], ttl: 30, time: T0 },
    ]),
  );
  t.is(buildIntents(store).length, 0);
  await pipe.ingest(batch([tcp('10.0.0.3', '52.1.1.2', 443, T0 + 5000)]));
  const ext = buildIntents(store, { external: true });
  t.is(ext.length, 1);
  t.deepEqual(ext[0]?.external, { domain: 'api.stripe.com', ips: ['52.1.1.1', '52.1.1.2'] });
  t.deepEqual(ext[0]?.ports, [443]);
  t.is(ext[0]?.server, undefined);
});

test('dns answers expire: a tcp after the TTL (floored at 60 s) is unresolved', async (t) => {
  const { store, pipe, metrics } = setup();
  await pipe.ingest(
    batch([{ kind: 'dns', clientIp: '10.0.0.3', name: 'example.org', ips: ['93.184.216.34'], ttl: 1, time: T0 }]),
  );
  await pipe.ingest(batch([tcp('10.0.0.3', '93.184.216.34', 443, T0 + 59_000)]));
  await pipe.ingest(batch([tcp('10.0.0.3', '93.184.216.34', 8443, T0 + 61_000)]));
  t.deepEqual(buildIntents(store, { external: true })[0]?.ports, [443]);
  t.deepEqual(metrics.unresolved, ['tcp:unknown-ip:1']);
});

test('dns answers are remembered across a restart of the pipeline (persisted)', async (t) => {
  const { store, pipe, resolver } = setup();
  await pipe.ingest(
    batch([{ kind: 'dns', clientIp: '10.0.0.3', name: 'example.org', ips: ['93.184.216.34'], ttl: 600, time: T0 }]),
  );
  const pipe2 = createIngestPipeline({ resolver, store, clock: () => T0 });
  t.is(pipe2.stats().dnsCacheSize, 1);
  await pipe2.ingest(batch([tcp('10.0.0.3', '93.184.216.34', 443, T0 + 1000)]));
  t.deepEqual(buildIntents(store, { external: true })[0]?.ports, [443]);
});

test('http: Istio names resolve through resolveWorkloadName; method+path add to the pair; no path is a plain edge', async (t) => {
  const { store, pipe, resolver } = setup();
  const http = (path?: string, method?: string): Observation => ({
    kind: 'http',
    client: { name: 'frontend', namespace: 'shop' },
    server: { name: 'checkout', namespace: 'shop' },
    serverService: 'checkout-svc',
    ...(path ? { path } : {}),
    ...(method ? { method } : {}),
    port: 8080,
    count: 4,
    time: T0,
  });
  await pipe.ingest(batch([http('/cart', 'GET'), http('/cart', 'POST'), http('/items', 'GET'), http()]));
  const [it] = buildIntents(store);
  t.deepEqual(it?.server, W.checkout);
  t.deepEqual(it?.http, [
    { path: '/cart', methods: ['GET', 'POST'] },
    { path: '/items', methods: ['GET'] },
  ]);
  t.is(it?.count, 16);
  t.true(resolver.calls.resolveWorkloadName >= 2);
});

test('http: an unknown workload name keeps kind Unknown', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(
    batch([
      {
        kind: 'http',
        client: { name: 'ghost', namespace: 'x' },
        server: W.checkout,
        path: '/',
        method: 'GET',
        count: 1,
        time: T0,
      },
    ]),
  );
  t.is(buildIntents(store)[0]?.client.kind, 'Unknown');
});

test('workload-tcp adds an L4 edge with its port', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(
    batch([{ kind: 'workload-tcp', client: W.checkout, server: W.payments, port: 5432, count: 2, time: T0 }]),
  );
  const [it] = buildIntents(store);
  t.deepEqual(it?.server, W.payments);
  t.deepEqual(it?.ports, [5432]);
});

test('kafka: Topic decisions become topic intents (allowed and denied kept apart); other resources go to the ACL table', async (t) => {
  const { store, pipe } = setup();
  const k = (over: Partial<Extract<Observation, { kind: 'kafka' }>>): Observation => ({
    kind: 'kafka',
    clientIp: '10.0.0.2',
    serverPod: { name: 'kafka-0', namespace: 'data' },
    resourceType: 'Topic',
    resourceName: 'orders',
    patternType: 'LITERAL',
    operation: 'produce',
    allowed: true,
    count: 1,
    time: T0,
    ...over,
  });
  await pipe.ingest(
    batch([
      k({}),
      k({ operation: 'describe' }),
      k({ operation: 'consume', allowed: false }),
      k({ resourceName: 'audit-', patternType: 'PREFIXED', operation: 'consume' }),
      k({ resourceType: 'Group', resourceName: 'checkout-group', operation: 'consume', principal: 'User:checkout' }),
    ]),
  );
  const [it] = buildIntents(store);
  t.deepEqual(it?.server, W.kafka);
  t.deepEqual(it?.kafka, [
    { topic: 'audit-*', operations: ['consume'], deniedOperations: [] },
    { topic: 'orders', operations: ['describe', 'produce'], deniedOperations: ['consume'] },
  ]);
  const acl = store.kafkaAcl();
  t.is(acl.length, 1);
  t.is(acl[0]?.resourceType, 'Group');
  t.is(acl[0]?.principal, 'User:checkout');
});

test('self-calls are dropped and counted', async (t) => {
  const { store, pipe, metrics } = setup();
  await pipe.ingest(
    batch([
      tcp('10.0.0.2', '10.96.0.2', 8080),
      { kind: 'workload-tcp', client: W.checkout, server: W.checkout, count: 3, time: T0 },
    ]),
  );
  t.is(buildIntents(store).length, 0);
  t.deepEqual(metrics.dropped.sort(), ['tcp:self-call:1', 'workload-tcp:self-call:3']);
  t.is(pipe.stats().dropped['self-call'], 4);
});

test('unresolved observations are counted per reason and never stored', async (t) => {
  const { store, pipe, metrics } = setup();
  await pipe.ingest(
    batch([
      { ...tcp('10.9.9.9', '10.0.0.2', 80), count: 5 },
      tcp('192.168.1.10', '10.0.0.2', 80),
      tcp('10.0.0.1', '10.0.0.9', 80, T0 + 5000), // reused IP: its pod was gone by then
      { kind: 'dns', clientIp: '10.0.0.1', name: 'nope.shop.svc.cluster.local', ips: [], time: T0 },
      {
        kind: 'kafka',
        clientIp: '10.0.0.2',
        serverPod: { name: 'kafka-7', namespace: 'data' },
        resourceType: 'Topic',
        resourceName: 't',
        patternType: 'LITERAL',
        operation: 'produce',
        allowed: true,
        count: 1,
        time: T0,
      },
    ]),
  );
  t.is(store.edgeCount, 0);
  t.deepEqual(pipe.stats().unresolved, {
    'unknown-ip': 5,
    'host-network': 1,
    'not-alive-at-time': 1,
    'unknown-name': 1,
    'unknown-pod': 1,
  });
  t.is(metrics.obs, 9);
});

test('IP reuse: the same IP inside the pod lifetime resolves', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(batch([tcp('10.0.0.9', '10.0.0.2', 80, T0 + 500)]));
  t.deepEqual(buildIntents(store)[0]?.client, W.reporter);
});

test('a duplicate batch is answered from the store without resolving or counting again', async (t) => {
  const { store, pipe, resolver, metrics } = setup();
  const b = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  t.false((await pipe.ingest(b)).duplicate);
  const calls = resolver.calls.resolveIp;
  const r = await pipe.ingest(b);
  t.true(r.duplicate);
  t.is(r.accepted, 1);
  t.is(resolver.calls.resolveIp, calls);
  t.is(buildIntents(store)[0]?.count, 1);
  t.is(metrics.obs, 1);
  t.is(pipe.stats().duplicates, 1);
});

test('filters: namespaces, server, excludeLabels; graph has nodes and typed edges', async (t) => {
  const { store, pipe } = setup();
  await pipe.ingest(
    batch([
      tcp('10.0.0.1', '10.96.0.2', 8080),
      tcp('10.0.0.2', '10.96.0.3', 443),
      { kind: 'http', client: W.checkout, server: W.payments, path: '/pay', method: 'POST', count: 1, time: T0 },
    ]),
  );
  t.is(buildIntents(store).length, 2);
  t.deepEqual(
    buildIntents(store, { namespaces: ['shop'] }).map((i) => i.client.name),
    ['checkout', 'frontend'],
  );
  t.is(buildIntents(store, { namespaces: ['billing'] }).length, 0);
  t.deepEqual(
    buildIntents(store, { server: { name: 'payments', namespace: 'billing' } }).map((i) => i.client.name),
    ['checkout'],
  );
  t.deepEqual(
    buildIntents(store, { excludeLabels: [{ key: 'tier', value: 'web' }] }).map((i) => i.client.name),
    ['checkout'],
  );
  t.deepEqual(
    buildIntents(store, { excludeLabels: [{ key: 'app', value: 'payments' }] }).map((i) => i.client.name),
    ['frontend'],
  );
  t.is(buildIntents(store, { excludeLabels: [{ key: 'app' }] }).length, 0);
  const g = buildGraph(buildIntents(store));
  t.deepEqual(
    g.nodes.map((n) => n.id),
    ['billing/payments', 'shop/checkout', 'shop/frontend'],
  );
  const pay = g.edges.find((e) => e.target === 'billing/payments');
  t.deepEqual(pay?.kinds, ['l4', 'http']);
});

test('group commit: batches of one event-loop turn share a transaction; a repeated id inside the group is a duplicate', async (t) => {
  const { store, pipe } = setup();
  let groups = 0;
  const orig = store.applyGroupAsync.bind(store);
  store.applyGroupAsync = (b, d, n) => {
    groups++;
    return orig(b, d, n);
  };
  const b1 = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  const b2 = batch([tcp('10.0.0.1', '10.0.0.2', 81), tcp('10.0.0.1', '10.0.0.3', 80)]);
  const rs = await Promise.all([pipe.ingest(b1), pipe.ingest(b2), pipe.ingest(b1)]);
  t.is(groups, 1);
  t.deepEqual(
    rs.map((r) => [r.accepted, r.duplicate]),
    [
      [1, false],
      [2, false],
      [1, true],
    ],
  );
  const intents = buildIntents(store);
  t.deepEqual(intents.find((i) => i.server?.name === 'checkout')?.ports, [80, 81]);
  t.is(intents.find((i) => i.server?.name === 'checkout')?.count, 2);
  t.deepEqual(pipe.stats().observations, { tcp: 3 });
});

test('a failed commit rejects every batch of the group and counts nothing', async (t) => {
  const { store, pipe, metrics } = setup();
  store.applyGroupAsync = () => Promise.reject(new Error('disk full'));
  const results = await Promise.allSettled([
    pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)])),
    pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.3', 80)])),
  ]);
  t.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  t.is(store.edgeCount, 0);
  t.is(metrics.obs, 0);
  t.is(pipe.stats().batches, 0);
});

for (const writer of ['inline', 'thread'] as const) {
  test(`maxGroup bounds a group: the batch that fills it is handed to the store at once (${writer})`, async (t) => {
    const store = openMapStore({ path: ':memory:', writer });
    const pipe = createIngestPipeline({ resolver: shopResolver(), store, maxGroup: 2 });
    const sizes: number[] = [];
    const orig = store.applyGroupAsync.bind(store);
    store.applyGroupAsync = (b, d, n) => {
      sizes.push(b.length);
      return orig(b, d, n);
    };
    const p1 = pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.2', 80)]));
    const p2 = pipe.ingest(batch([tcp('10.0.0.1', '10.0.0.3', 80)]));
    t.deepEqual(sizes, [2]); // before the end of this turn
    await Promise.all([p1, p2]);
    t.is(store.edgeCount, 2);
    store.close();
  });
}
