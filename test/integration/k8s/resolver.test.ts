/**
 * Identity resolution end to end: createKubeResolver over @kubernetes/client-node against the
 * Kubernetes API test server (real list/watch wire protocol), fixture test/fixtures/k8s/resolution.yaml.
 */
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { createKubeResolver, type KubeResolverHandle } from '../../../mapper/k8s/resolver.ts';
import type { Resolution } from '../../../mapper/k8s/types.ts';
import { type KubeApiTestServer, startKubeApiServer } from '../../kube-api-server/index.ts';
import { pod } from '../../unit/k8s/objects.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/k8s/resolution.yaml', import.meta.url));
const FIXTURE_TIME = Date.parse('2026-01-01T00:00:00Z');

function who(res: Resolution): string {
  if (!res.ok) return `!${res.reason}`;
  return `${res.workload.kind}/${res.workload.namespace}/${res.workload.name}`;
}

async function eventually(check: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

async function setup(t: { teardown(fn: () => Promise<void> | void): void }): Promise<{
  server: KubeApiTestServer;
  kube: KubeResolverHandle;
}> {
  const server = await startKubeApiServer({ fixture: FIXTURE, bookmarkIntervalMs: 200 });
  const kube = createKubeResolver({
    kubeconfig: { kind: 'file', path: server.kubeconfigPath },
    informer: { backoffInitialMs: 20, backoffMaxMs: 200 },
  });
  t.teardown(async () => {
    await kube.shutdown();
    await server.close();
  });
  kube.start();
  return { server, kube };
}

test('initial sync: every fixture rule resolves over the real wire protocol', async (t) => {
  const { kube } = await setup(t);
  t.true(await kube.waitForSync(10_000));
  t.true(kube.resolver.ready());
  const r = kube.resolver;
  const at = Date.now();
  // Pod IP (and its IPv6 podIPs entry) → Deployment through the ReplicaSet.
  const web = r.resolveIp('10.50.0.11', at);
  t.is(who(web), 'Deployment/shop/web');
  t.deepEqual(web.ok && web.workload.labels, { app: 'web', team: 'storefront' });
  t.is(who(r.resolveIp('fd00:50::11', at)), 'Deployment/shop/web');
  // ClusterIP → Service → endpoints → workload.
  const svc = r.resolveIp('10.96.50.10', at);
  t.is(who(svc), 'Deployment/shop/web');
  t.deepEqual(svc.ok && svc.service, { name: 'web', namespace: 'shop' });
  // Chains and overrides.
  t.is(who(r.resolveIp('10.50.1.10', at)), 'StatefulSet/data/kafka');
  t.is(who(r.resolveIp('10.50.1.20', at)), 'CronJob/data/report');
  t.is(who(r.resolveIp('10.50.0.20', at)), 'Pod/shop/checkout-svc');
  t.is(who(r.resolveIp('10.50.0.30', at)), 'Deployment/shop/basket');
  // Host network: node IPs never go to the hostNetwork DaemonSet pod.
  t.is(who(r.resolveIp('192.168.50.1', at)), '!host-network');
  t.is(who(r.resolveIp('203.0.113.50', at)), '!host-network');
  // DNS names.
  t.is(who(r.resolveDnsName('web.shop.svc.cluster.local', ['10.96.50.10'], at)), 'Deployment/shop/web');
  t.is(who(r.resolveDnsName('web', [], at, 'shop')), 'Deployment/shop/web');
  t.is(who(r.resolveDnsName('10-50-0-12.shop.pod.cluster.local', [], at)), 'Deployment/shop/web');
  const headless = r.resolveDnsName('kafka-1.kafka-hs.data.svc.cluster.local', ['10.50.1.11'], at);
  t.is(who(headless), 'StatefulSet/data/kafka');
  t.true(headless.ok && headless.pod?.name === 'kafka-1');
  t.true(r.isClusterName('kafka-hs.data.svc.cluster.local'));
  t.false(r.isClusterName('api.example.com'));
  // Watchers' entry points.
  t.is(who(r.resolvePod({ name: 'kafka-0', namespace: 'data' }, at)), 'StatefulSet/data/kafka');
  t.is(r.resolveWorkloadName({ name: 'web', namespace: 'shop' }).kind, 'Deployment');
  // Unknown stays unknown, counted.
  t.is(who(r.resolveIp('10.99.99.99', at)), '!unknown-ip');
  const stats = kube.stats();
  t.true(stats.ready);
  t.is(stats.unresolved['unknown-ip'], 1);
  t.is(stats.unresolved['host-network'], 2);
  t.true(stats.informers.every((i) => i.synced && i.lists === 1));
  t.true(stats.state.pods >= 8);
});

test('a pod added at run time becomes resolvable; its override annotation can change later', async (t) => {
  const { server, kube } = await setup(t);
  t.true(await kube.waitForSync(10_000));
  const r = kube.resolver;
  t.is(who(r.resolveIp('10.50.0.40', Date.now())), '!unknown-ip');
  server.apply(pod({ ns: 'shop', name: 'late', uid: 'u-late', ip: '10.50.0.40', created: Date.now() }));
  t.true(await eventually(() => r.resolveIp('10.50.0.40', Date.now()).ok));
  t.is(who(r.resolveIp('10.50.0.40', Date.now())), 'Pod/shop/late');
  server.apply(
    pod({
      ns: 'shop',
      name: 'late',
      uid: 'u-late',
      ip: '10.50.0.40',
      created: Date.now(),
      annotations: { 'callmap.io/workload-name': 'late-renamed' },
    }),
  );
  t.true(await eventually(() => who(r.resolveIp('10.50.0.40', Date.now())) === 'Pod/shop/late-renamed'));
});

test('a deleted pod is not attributed for later times, still is for earlier ones', async (t) => {
  const { server, kube } = await setup(t);
  t.true(await kube.waitForSync(10_000));
  const r = kube.resolver;
  server.remove('Pod', 'shop', 'checkout');
  t.true(await eventually(() => kube.stats().state.deletedPodsRemembered === 1));
  const deletedAt = Date.now();
  t.is(who(r.resolveIp('10.50.0.20', deletedAt + 10_000)), '!not-alive-at-time');
  t.is(who(r.resolveIp('10.50.0.20', FIXTURE_TIME + 60_000)), 'Pod/shop/checkout-svc');
  // IP reuse: a new pod takes the IP; later observations go to it.
  server.apply(pod({ ns: 'shop', name: 'reuser', ip: '10.50.0.20', created: deletedAt + 5_000 }));
  t.true(await eventually(() => who(r.resolveIp('10.50.0.20', deletedAt + 10_000)) === 'Pod/shop/reuser'));
  t.is(who(r.resolveIp('10.50.0.20', FIXTURE_TIME + 60_000)), 'Pod/shop/checkout-svc');
});

test('informers restart after the server breaks every watch (abort and clean end)', async (t) => {
  const { server, kube } = await setup(t);
  t.true(await kube.waitForSync(10_000));
  await eventually(() => server.openStreams().watches === kube.stats().informers.length);
  const watchesBefore = kube.stats().informers.reduce((n, i) => n + i.watches, 0);
  t.true(server.breakWatches('abort') > 0);
  t.true(
    await eventually(
      () =>
        kube.stats().informers.every((i) => i.restarts >= 1) &&
        server.openStreams().watches === kube.stats().informers.length,
    ),
  );
  server.breakWatches('end');
  t.true(await eventually(() => kube.stats().informers.reduce((n, i) => n + i.watches, 0) >= watchesBefore * 3));
  // Still live: a change after the breaks arrives.
  server.apply(pod({ ns: 'shop', name: 'after-break', ip: '10.50.0.41', created: Date.now() }));
  t.true(await eventually(() => who(kube.resolver.resolveIp('10.50.0.41', Date.now())) === 'Pod/shop/after-break'));
  t.true(
    kube.stats().informers.every((i) => i.lists === 1),
    'no relist needed: re-watched from the last version',
  );
});

test('410 Gone after expired history: the informer relists and catches up with missed changes', async (t) => {
  const { server, kube } = await setup(t);
  t.true(await kube.waitForSync(10_000));
  await eventually(() => server.openStreams().watches === kube.stats().informers.length);
  // Break the watches, change the cluster while nobody watches, and forget the history.
  server.breakWatches('abort');
  server.remove('Pod', 'data', 'kafka-1');
  server.apply(pod({ ns: 'data', name: 'missed', ip: '10.50.1.30', created: Date.now() }));
  server.expireHistory();
  t.true(await eventually(() => who(kube.resolver.resolveIp('10.50.1.30', Date.now())) === 'Pod/data/missed'));
  t.is(who(kube.resolver.resolveIp('10.50.1.11', Date.now() + 10_000)), '!not-alive-at-time');
  const podInformer = kube.stats().informers.find((i) => i.kind === 'Pod');
  t.true((podInformer?.gone ?? 0) >= 1);
  t.true((podInformer?.lists ?? 0) >= 2);
});

test('an unreachable API server: not ready, restarts counted, no crash; shutdown is prompt', async (t) => {
  const server = await startKubeApiServer({});
  const path = server.kubeconfigPath;
  const kube = createKubeResolver({
    kubeconfig: { kind: 'file', path },
    informer: { backoffInitialMs: 10, backoffMaxMs: 50 },
  });
  await server.close().catch(() => undefined);
  // The kubeconfig file is gone with the server; the config was loaded already.
  kube.start();
  t.false(await kube.waitForSync(300));
  t.false(kube.resolver.ready());
  t.true(await eventually(() => kube.stats().informers.every((i) => i.restarts >= 2)));
  t.truthy(kube.stats().informers[0]?.lastError);
  await kube.shutdown();
});

test('core/v1 Endpoints mode without Nodes: services map through Endpoints, hostNetwork IPs stay host-network', async (t) => {
  const server = await startKubeApiServer({ fixture: FIXTURE, bookmarkIntervalMs: 200 });
  const kube = createKubeResolver({
    kubeconfig: { kind: 'file', path: server.kubeconfigPath },
    endpoints: 'Endpoints',
    watchNodes: false,
    informer: { backoffInitialMs: 20, backoffMaxMs: 200 },
  });
  t.teardown(async () => {
    await kube.shutdown();
    await server.close();
  });
  kube.start();
  t.true(await kube.waitForSync(10_000));
  const kinds = kube.stats().informers.map((i) => i.kind);
  t.true(kinds.includes('Endpoints') && !kinds.includes('EndpointSlice') && !kinds.includes('Node'));
  const at = Date.now();
  t.is(who(kube.resolver.resolveIp('10.96.50.10', at)), 'Service/shop/web', 'no Endpoints object yet');
  server.apply({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'shop' },
    subsets: [{ addresses: [{ ip: '10.50.0.11', targetRef: { kind: 'Pod', name: 'web-6d8f-a', namespace: 'shop' } }] }],
  });
  t.true(await eventually(() => who(kube.resolver.resolveIp('10.96.50.10', Date.now())) === 'Deployment/shop/web'));
  t.is(who(kube.resolver.resolveIp('192.168.50.1', at)), '!host-network');
  t.is(who(kube.resolver.resolveIp('203.0.113.50', at)), '!unknown-ip', 'ExternalIP only known from Node objects');
});

test('waitForSync keeps the process alive until it settles (unreachable API server, nothing else running)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'callmap-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const script = `
    import { createKubeResolver } from './mapper/k8s/resolver.ts';
    const kube = createKubeResolver({
      kubeconfig: { kind: 'file', path: ${JSON.stringify(kubeconfig)} },
      informer: { backoffInitialMs: 10, backoffMaxMs: 50 },
    });
    kube.start();
    const synced = await kube.waitForSync(1500);
    console.log('settled synced=' + synced);
    await kube.shutdown();`;
  const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.regex(r.stdout, /settled synced=false/, `the process ended before waitForSync settled:\n${r.stderr}`);
});
