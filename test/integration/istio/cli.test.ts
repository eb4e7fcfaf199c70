/** `callmap watch istio` end to end through the CLI dispatcher, reporting to a recording mapper stub. */
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { HttpObservation } from '../../../mapper/contract/index.ts';
import { parseIstioArgs, runIstioWatcher } from '../../../watchers/istio/cli.ts';
import { startKubeApiServer } from '../../kube-api-server/index.ts';
import { captureCtx, pod, requestsLine, startMapperStub, startStatsServer } from './helpers.ts';

const fixturePath = (name: string): string => fileURLToPath(new URL(`../../fixtures/istio/${name}`, import.meta.url));

/** One sidecar pod serving `body` as its stats page at `ip`, the test API server listing it, and a mapper stub. */
async function oneMeshPod(t: ExecutionContext, ip: string, body: string, podName = 'b') {
  const stats = await startStatsServer(ip, body);
  const kube = await startKubeApiServer({ objects: [pod(podName, { ip: stats.ip, port: stats.port })] });
  const mapper = await startMapperStub();
  t.teardown(async () => {
    await kube.close();
    await stats.close();
    await mapper.close();
  });
  return { stats, kube, mapper };
}

test('--once: one tick, flush, exit 0; batches pass the contract', async (t) => {
  const { kube, mapper } = await oneMeshPod(
    t,
    '127.0.0.20',
    requestsLine('destination', 'frontend', 'orders', '/api/orders/17?x=1', 3) +
      requestsLine('destination', 'frontend', 'orders', '/api/orders/18', 2),
    'orders',
  );
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const code = await main(['watch', 'istio', '--once', '--kubeconfig', kube.kubeconfigPath, '--template-paths'], ctx);
  t.is(code, 0, ctx.err());
  t.regex(ctx.err(), /1 stats pages, 1 read, 0 failed/);
  const obs = mapper.observations() as HttpObservation[];
  t.is(mapper.batches[0]?.reporter.component, 'istio-watcher');
  t.deepEqual(
    obs.map((o) => [o.kind, o.client.name, o.server.name, o.serverService, o.method, o.path, o.count, o.reporter]),
    [['http', 'frontend', 'orders', 'orders', 'GET', '/api/orders/{id}', 5, 'destination']],
  );
});

test('--once: mapper unreachable → exit 2 with a clear message, before scraping', async (t) => {
  const stats = await startStatsServer('127.0.0.21', requestsLine('destination', 'a', 'b', '/x', 1));
  const kube = await startKubeApiServer({ objects: [pod('b', { ip: stats.ip, port: stats.port })] });
  const gone = await startMapperStub();
  await gone.close();
  t.teardown(async () => {
    await kube.close();
    await stats.close();
  });
  const ctx = captureCtx();
  const code = await main(
    ['watch', 'istio', '--once', '--kubeconfig', kube.kubeconfigPath, '--mapper-url', gone.url],
    ctx,
  );
  t.is(code, 2);
  t.regex(ctx.err(), /cannot reach the mapper at http:\/\/127\.0\.0\.1:\d+/);
  t.is(stats.hits, 0);
});

test('--once: Kubernetes API unreachable → exit 1 naming the API server', async (t) => {
  const mapper = await startMapperStub();
  const kube = await startKubeApiServer({ objects: [] });
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/callmap-istio-`);
  const copy = `${dir}/kubeconfig.yaml`;
  writeFileSync(copy, kube.kubeconfigYaml);
  await kube.close(); // the kubeconfig now points at a closed port
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true });
    await mapper.close();
  });
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const code = await main(['watch', 'istio', '--once', '--kubeconfig', copy], ctx);
  t.is(code, 1);
  t.regex(ctx.err(), /cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ .*\[KUBE_UNREACHABLE\]/);
});

test('--once: the mapper rejecting batches → exit 1', async (t) => {
  const { kube, mapper } = await oneMeshPod(t, '127.0.0.22', requestsLine('destination', 'a', 'b', '/x', 1));
  mapper.status = 400;
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const code = await main(['watch', 'istio', '--once', '--kubeconfig', kube.kubeconfigPath], ctx);
  t.is(code, 1);
  t.regex(ctx.err(), /MAPPER_REJECTED/);
});

test('--stats-file and --stats-url (no Kubernetes): Envoy admin JSON and Prometheus text', async (t) => {
  const stats = await startStatsServer('127.0.0.23', requestsLine('waypoint', 'a', 'b', '/from-url', 2));
  const mapper = await startMapperStub();
  t.teardown(async () => {
    await stats.close();
    await mapper.close();
  });
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url, KUBECONFIG: '/nonexistent' });
  const code = await main(
    [
      'watch',
      'istio',
      '--once',
      '--stats-file',
      fixturePath('envoy-admin.json'),
      '--stats-url',
      `http://${stats.ip}:${stats.port}/stats/prometheus`,
    ],
    ctx,
  );
  t.is(code, 0, ctx.err());
  const paths = (mapper.observations() as HttpObservation[]).map((o) => o.path ?? '-').sort();
  t.deepEqual(paths, ['-', '/from-url', '/ratings/v1.2/rate.json', '/static/index.html']);
});

test('bad flags are usage errors (exit 64)', async (t) => {
  for (const argv of [
    ['--interval', 'soon'],
    ['--concurrency', '0'],
    ['--namespace', 'Bad_NS'],
    ['--stats-url', 'ftp://x'],
    ['--metrics-port', '70000'],
    ['--bogus'],
  ]) {
    const ctx = captureCtx();
    t.is(await main(['watch', 'istio', ...argv], ctx), 64, argv.join(' '));
    t.regex(ctx.err(), /callmap watch: --|callmap watch: Unknown option|see --help/i, argv.join(' '));
  }
  const ctx = captureCtx();
  t.is(await main(['watch', 'istio', '--help'], ctx), 0);
  t.regex(ctx.out(), /--template-paths/);
});

test('flags > env > defaults', (t) => {
  const here = fileURLToPath(import.meta.url);
  const c = parseIstioArgs([], { CALLMAP_MAPPER_URL: 'http://m:1', KUBECONFIG: `/nonexistent/k:${here}` });
  t.is(c.mapperUrl, 'http://m:1');
  t.is(c.kubeconfig, here, 'first existing file of a KUBECONFIG list');
  t.is(c.intervalMs, 30_000);
  t.is(c.watcher.concurrency, 8);
  t.is(c.watcher.timeoutMs, 5_000);
  const d = parseIstioArgs(
    ['--mapper-url', 'http://x:2', '--kubeconfig', '/o', '--interval', '1m', '--namespace', 'a,b', '--namespace', 'c'],
    {
      CALLMAP_MAPPER_URL: 'http://m:1',
    },
  );
  t.is(d.mapperUrl, 'http://x:2');
  t.is(d.kubeconfig, '/o');
  t.is(d.intervalMs, 60_000);
  t.deepEqual(d.watcher.namespaces, ['a', 'b', 'c']);
});

test('periodic mode: ticks report, /metrics counts, shutdown on signal', async (t) => {
  const { stats, kube, mapper } = await oneMeshPod(t, '127.0.0.24', requestsLine('destination', 'a', 'b', '/x', 1));
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  let metricsPort = 0;
  const cfg = parseIstioArgs(
    ['--kubeconfig', kube.kubeconfigPath, '--interval', '200ms', '--metrics-port', '0'],
    ctx.env,
  );
  const running = runIstioWatcher(cfg, ctx, { metricsHost: '127.0.0.1', onMetricsPort: (p) => (metricsPort = p) });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => stats.hits >= 3);
  stats.body = requestsLine('destination', 'a', 'b', '/x', 4);
  await until(() => stats.hits >= 5);
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.regex(text, /callmap_istio_pods_scraped_total \d+/);
  t.regex(text, /callmap_istio_edges_reported_total 2/);
  ctx.abort();
  t.is(await running, 0);
  const total = mapper.observations().reduce((a, o) => a + (o.count ?? 0), 0);
  t.is(total, 4, 'first sight 1, then +3, nothing re-reported in between');
});

test('--once with only unreadable --stats-file pages → exit 1 naming the file', async (t) => {
  const mapper = await startMapperStub();
  t.teardown(() => mapper.close());
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const code = await main(['watch', 'istio', '--once', '--stats-file', '/nonexistent/stats.prom'], ctx);
  t.is(code, 1);
  t.regex(ctx.err(), /\/nonexistent\/stats\.prom: error, ENOENT no such file.*\[STATS_UNREADABLE\]/);
});

test('--once interrupted (SIGINT) while a pod is slow → exit 1, says so, does not blame the mapper', async (t) => {
  const { stats, kube, mapper } = await oneMeshPod(t, '127.0.0.25', requestsLine('destination', 'a', 'b', '/x', 1));
  stats.delayMs = 60_000;
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const running = main(['watch', 'istio', '--once', '--kubeconfig', kube.kubeconfigPath, '--timeout', '30s'], ctx);
  for (let i = 0; i < 600 && stats.hits === 0; i++) await new Promise((r) => setTimeout(r, 50));
  ctx.abort();
  t.is(await running, 1);
  t.regex(ctx.err(), /interrupted/);
  t.notRegex(ctx.err(), /cannot reach the mapper/);
});
