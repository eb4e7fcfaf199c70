/**
 * The watcher against real servers: the Kubernetes API test server reports pods whose IPs are
 * 127.x addresses where small HTTP servers pretend to be Envoy / ztunnel stats endpoints.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import type { HttpObservation, Observation } from '../../../mapper/contract/index.ts';
import { kubePodLister } from '../../../watchers/istio/discovery.ts';
import { createIstioWatcher, type IstioWatcherConfig } from '../../../watchers/istio/watcher.ts';
import { startKubeApiServer } from '../../kube-api-server/index.ts';
import { pod, requestsLine, type StatsServer, startStatsServer } from './helpers.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/istio/${name}`, import.meta.url), 'utf8');

const CONFIG: IstioWatcherConfig = {
  namespaces: [],
  concurrency: 4,
  timeoutMs: 2_500,
  maxBodyBytes: 64 * 1024 * 1024,
  templatePaths: false,
};

const http = (obs: Observation[]): HttpObservation[] => obs.filter((o): o is HttpObservation => o.kind === 'http');
const describe = (o: HttpObservation): string =>
  `${o.reporter} ${o.client.name}->${o.server.name} ${o.method ?? '-'} ${o.path ?? '-'} x${o.count}`;

async function cluster(objects: object[]) {
  const kube = await startKubeApiServer({ objects });
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  return { kube, lister: kubePodLister(kc) };
}

test('one tick: sidecars, waypoint and ztunnel scraped; slow, failing, dead, sidecar-less and pending pods counted, never blocking', async (t) => {
  const servers: StatsServer[] = [];
  const start = async (ip: string, body: string) => {
    const s = await startStatsServer(ip, body);
    servers.push(s);
    return s;
  };
  const frontend = await start(
    '127.0.0.2',
    requestsLine('source', 'frontend', 'orders', '/api/orders?limit=5', 10) +
      requestsLine('source', 'frontend', 'legacy', '/old', 2) +
      requestsLine('destination', 'checkout', 'frontend', '/index.html', 4),
  );
  const orders = await start('127.0.0.3', requestsLine('destination', 'frontend', 'orders', '/api/orders', 10));
  const slow = await start('127.0.0.4', requestsLine('destination', 'x', 'slow', '/never', 1));
  slow.delayMs = 60_000;
  const broken = await start('127.0.0.5', '');
  broken.status = 500;
  const waypoint = await start('127.0.0.6', fixture('waypoint.prom'));
  const ztunnel = await start('127.0.0.7', fixture('ztunnel.prom'));
  const dead = await start('127.0.0.8', '');
  await dead.close();
  const { kube, lister } = await cluster([
    pod('frontend', { ip: frontend.ip, port: frontend.port }),
    pod('orders', { ip: orders.ip, port: orders.port }),
    pod('slow', { ip: slow.ip, port: slow.port }),
    pod('broken', { ip: broken.ip, port: broken.port }),
    pod('dead', { ip: dead.ip, port: dead.port }),
    pod('no-sidecar', { ip: '127.0.0.9', port: 1, containers: ['app'] }),
    pod('pending', { phase: 'Pending', port: 1 }),
    pod('waypoint', {
      ip: waypoint.ip,
      port: waypoint.port,
      namespace: 'bookinfo',
      labels: { 'gateway.istio.io/managed': 'istio.io-mesh-controller' },
      containers: ['istio-proxy'],
    }),
    pod('ztunnel-abc', {
      ip: ztunnel.ip,
      port: ztunnel.port,
      namespace: 'istio-system',
      labels: { app: 'ztunnel' },
      containers: ['istio-proxy'],
    }),
  ]);
  t.teardown(async () => {
    await kube.close();
    await Promise.all(servers.map((s) => s.close()));
  });
  const seen: Observation[] = [];
  const logs: string[] = [];
  const watcher = createIstioWatcher(CONFIG, {
    lister,
    sink: { add: (o) => seen.push(o) },
    now: () => 1_700_000_000_000,
    log: (l) => logs.push(l),
  });
  const r = await watcher.tick();
  t.is(r.targets, 7);
  t.is(r.scraped, 4);
  // The slow pod hit its own deadline (timeout) while the others were read: it blocked nobody.
  t.like(r.failures, { timeout: 1, 'http-status': 1, connect: 1 });
  t.deepEqual(r.discoverySkipped, { 'not-running': 1, 'no-pod-ip': 0, 'no-proxy-container': 1 });
  t.is(r.deduplicated, 1, 'frontend->orders counted once, from the orders side');
  t.deepEqual(http(seen).map(describe).sort(), [
    'destination checkout->frontend GET /index.html x4',
    'destination frontend->orders GET /api/orders x10',
    'source frontend->legacy GET /old x2',
    'waypoint productpage-v1->reviews-v1 - - x17',
    'waypoint productpage-v1->reviews-v2 - - x9',
  ]);
  const tcp = seen.filter((o) => o.kind === 'workload-tcp');
  t.deepEqual(
    tcp.map((o) => (o.kind === 'workload-tcp' ? `${o.client.name}->${o.server.name} x${o.count}` : '')).sort(),
    ['productpage-v1->details-v1 x25', 'productpage-v1->reviews-v1 x8'],
  );
  t.true(
    logs.some((l) => l.includes('tagOverrides')),
    'hint on enabling paths logged',
  );
  t.is(logs.filter((l) => l.includes('tagOverrides')).length, 1);
  t.true(logs.some((l) => l.includes('3 of 7 stats pages could not be read')));
});

test('deltas across ticks: unchanged series not re-reported, counter reset, vanished pod state dropped, restarts start fresh', async (t) => {
  const a = await startStatsServer('127.0.0.10', requestsLine('destination', 'c', 'a', '/x', 100));
  const b = await startStatsServer('127.0.0.11', requestsLine('destination', 'c', 'b', '/y', 5));
  const { kube, lister } = await cluster([pod('a', { ip: a.ip, port: a.port }), pod('b', { ip: b.ip, port: b.port })]);
  t.teardown(async () => {
    await kube.close();
    await a.close();
    await b.close();
  });
  let seen: Observation[] = [];
  const watcher = createIstioWatcher(CONFIG, { lister, sink: { add: (o) => seen.push(o) } });
  const tick = async () => {
    seen = [];
    const r = await watcher.tick();
    return { r, lines: http(seen).map(describe).sort() };
  };
  t.deepEqual((await tick()).lines, ['destination c->a GET /x x100', 'destination c->b GET /y x5']);
  t.deepEqual((await tick()).lines, [], 'nothing changed, nothing reported');
  a.body = requestsLine('destination', 'c', 'a', '/x', 130);
  t.deepEqual((await tick()).lines, ['destination c->a GET /x x30']);
  a.body = requestsLine('destination', 'c', 'a', '/x', 4); // proxy restarted
  const reset = await tick();
  t.deepEqual(reset.lines, ['destination c->a GET /x x4']);
  t.is(reset.r.resets, 1);
  kube.remove('Pod', 'shop', 'b');
  const gone = await tick();
  t.is(gone.r.droppedSources, 1);
  kube.apply(pod('b', { ip: b.ip, port: b.port, restarts: 1 }));
  b.body = requestsLine('destination', 'c', 'b', '/y', 7);
  t.deepEqual((await tick()).lines, ['destination c->b GET /y x7'], 'a restarted proxy is a new source');
});

test('huge page: 100,000 series in one stats page', async (t) => {
  const lines: string[] = ['# TYPE istio_requests_total counter\n'];
  for (let i = 0; i < 100_000; i++) lines.push(requestsLine('destination', `c${i % 100}`, 'big', `/item/${i}`, i + 1));
  const big = await startStatsServer('127.0.0.12', lines.join(''));
  const { kube, lister } = await cluster([pod('big', { ip: big.ip, port: big.port })]);
  t.teardown(async () => {
    await kube.close();
    await big.close();
  });
  let n = 0;
  let sum = 0;
  const watcher = createIstioWatcher(
    { ...CONFIG, timeoutMs: 60_000 },
    {
      lister,
      sink: {
        add: (o) => {
          n++;
          sum += o.count ?? 0;
        },
      },
    },
  );
  const r = await watcher.tick();
  t.is(r.seriesParsed, 100_000);
  t.is(n, 100_000);
  t.is(sum, (100_000 * 100_001) / 2);
  t.is(r.failures['too-large'], 0);
  // A cap smaller than the page: counted as too-large, nothing reported.
  const capped = createIstioWatcher({ ...CONFIG, maxBodyBytes: 1024 * 1024 }, { lister, sink: { add: () => n++ } });
  n = 0;
  const r2 = await capped.tick();
  t.is(r2.failures['too-large'], 1);
  t.is(n, 0);
});

test('namespace filter: only pods of the watched namespaces are listed', async (t) => {
  const s = await startStatsServer('127.0.0.13', requestsLine('destination', 'c', 'a', '/x', 1, 'team-a'));
  const { kube, lister } = await cluster([
    pod('a', { ip: s.ip, port: s.port, namespace: 'team-a' }),
    pod('b', { ip: s.ip, port: s.port, namespace: 'team-b' }),
  ]);
  t.teardown(async () => {
    await kube.close();
    await s.close();
  });
  const watcher = createIstioWatcher({ ...CONFIG, namespaces: ['team-a'] }, { lister, sink: { add: () => {} } });
  const r = await watcher.tick();
  t.is(r.targets, 1);
  t.is(s.hits, 1);
});

test('a Kubernetes API that never answers fails the tick with KUBE_TIMEOUT instead of hanging it', async (t) => {
  const { createServer } = await import('node:http');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { kubeconfigYaml } = await import('../../kube-api-server/index.ts');
  const hung = createServer(() => {}); // accepts, never answers
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', () => resolve()));
  const port = (hung.address() as { port: number }).port;
  const dir = mkdtempSync(`${tmpdir()}/callmap-istio-hung-`);
  writeFileSync(`${dir}/kubeconfig`, kubeconfigYaml(`http://127.0.0.1:${port}`));
  t.teardown(async () => {
    hung.closeAllConnections();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  const kc = new KubeConfig();
  kc.loadFromFile(`${dir}/kubeconfig`);
  const watcher = createIstioWatcher(CONFIG, {
    lister: kubePodLister(kc, { timeoutMs: 300 }),
    sink: { add: () => {} },
  });
  const e = await t.throwsAsync(watcher.tick());
  t.is((e as { code?: string }).code, 'KUBE_TIMEOUT');
  t.regex(e?.message ?? '', /did not answer a pod list within 300 ms/);
});
