import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { KafkaObservation, Observation } from '../../../mapper/contract/index.ts';
import { loadKubeConfig } from '../../../watchers/common/kubeconfig.ts';
import { KUBE_ERROR_CODES, kubeAccess } from '../../../watchers/kafka/kube.ts';
import { KafkaStats } from '../../../watchers/kafka/stats.ts';
import { type KafkaSource, KafkaWatcher } from '../../../watchers/kafka/watcher.ts';
import { type KubeApiTestServer, kubeconfigYaml, startKubeApiServer } from '../../kube-api-server/index.ts';
import { countsByKey, fakeCtx, startCuttingProxy, startReceiver, until } from './helpers.ts';

const pod = (name: string, opts: { labels?: Record<string, string>; restarts?: number; uid?: string } = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'kafka',
    labels: opts.labels ?? { app: 'kafka' },
    ...(opts.uid === undefined ? {} : { uid: opts.uid }),
  },
  spec: {
    containers: [
      { name: 'kafka', image: 'apache/kafka:3.7.0' },
      { name: 'metrics', image: 'exporter' },
    ],
  },
  status: {
    phase: 'Running',
    podIP: '10.1.0.10',
    containerStatuses: [
      { name: 'kafka', restartCount: opts.restarts ?? 0, ready: true },
      { name: 'metrics', restartCount: 0, ready: true },
    ],
  },
});

const acl = (topic: string, ip = '10.0.0.5', op = 'Read') =>
  `[2024-05-01 12:00:00,000] INFO Principal = User:alice is Allowed Operation = ${op} from host = ${ip} on resource = Topic:LITERAL:${topic} for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)`;
const kraft = (topic: string, ip = '10.0.0.6') =>
  `2024-05-01 12:00:00,000 INFO Principal = User:bob is Denied operation = WRITE from host = ${ip} on resource = Topic:LITERAL:${topic} for request = Produce with resourceRefCount = 1 based on rule DefaultDeny (kafka.authorizer.logger) [data-plane-kafka-request-handler-1]`;

/** Both line scanners run the follow tests (the native one only when the addon is built). */
const SCANNERS = ['native', 'TypeScript'] as const;
type Scanner = (typeof SCANNERS)[number];

interface Harness {
  kube: KubeApiTestServer;
  added: KafkaObservation[];
  logs: string[];
  stats: KafkaStats;
  counts: () => Record<string, number>;
  stop: () => Promise<void>;
}

async function follow(
  t: { teardown: (f: () => Promise<void> | void) => void },
  kube: KubeApiTestServer,
  source: KafkaSource,
  opts: { kubeconfigPath?: string; container?: string; scanner?: Scanner } = {},
): Promise<Harness> {
  const added: KafkaObservation[] = [];
  const logs: string[] = [];
  const stats = new KafkaStats();
  const w = new KafkaWatcher(
    {
      source,
      once: false,
      reportIntervalMs: 20,
      podCheckMs: 50,
      selectorPollMs: 50,
      backoff: { initialMs: 20, maxMs: 200 },
      ...(opts.container === undefined ? {} : { container: opts.container }),
    },
    {
      sink: { add: (o: Observation) => added.push(o as KafkaObservation), flush: async () => {} },
      stats,
      log: (l) => logs.push(l),
      now: Date.now,
      // the default is the native scanner when it is built; `null` forces the TypeScript one
      ...(opts.scanner === 'TypeScript' ? { native: null } : {}),
      kube: kubeAccess(
        loadKubeConfig({
          path: opts.kubeconfigPath ?? kube.kubeconfigPath,
          code: KUBE_ERROR_CODES.kubeconfig,
          hint: 'pass --kubeconfig PATH',
        }),
      ),
    },
  );
  const ac = new AbortController();
  const done = w.run(ac.signal);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    ac.abort();
    await done;
  };
  t.teardown(stop);
  return { kube, added, logs, stats, counts: () => countsByKey(added), stop };
}

const K = (topic: string, ip = '10.0.0.5', podName = 'kafka-0', op = 'consume', verdict = 'allowed') =>
  `${podName}.kafka ${ip} Topic:${topic} ${op} ${verdict}`;

async function kubeWith(t: { teardown: (f: () => Promise<void>) => void }, objects: object[]) {
  const kube = await startKubeApiServer({ objects });
  t.teardown(() => kube.close());
  return kube;
}

for (const scanner of SCANNERS)
  test(`follows lines appended while streaming (default container "kafka" of two) (${scanner} scanner)`, async (t) => {
    const kube = await kubeWith(t, [pod('kafka-0')]);
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('before'));
    kube.appendLog('kafka', 'kafka-0', 'metrics', acl('wrong-container'));
    const h = await follow(
      t,
      kube,
      { kind: 'servers', servers: [{ name: 'kafka-0', namespace: 'kafka' }] },
      { scanner },
    );
    await until(() => h.counts()[K('before')] === 1, 8000, 'existing line');
    kube.appendLog(
      'kafka',
      'kafka-0',
      'kafka',
      `${acl('live')}\n[2024-05-01 12:00:00,001] INFO unrelated (kafka.server)\n${kraft('live')}`,
    );
    await until(
      () => h.counts()[K('live')] === 1 && h.counts()[K('live', '10.0.0.6', 'kafka-0', 'produce', 'denied')] === 1,
    );
    t.is(h.counts()[K('wrong-container')], undefined);
    t.is(h.stats.linesRead, 4);
    t.is(h.stats.parsed, 3);
    const live = h.added.find((o) => o.resourceName === 'live' && o.allowed);
    t.is(live?.clientIp, '10.0.0.5');
    t.deepEqual(live?.serverPod, { name: 'kafka-0', namespace: 'kafka' });
  });

test('--container picks another container', async (t) => {
  const kube = await kubeWith(t, [pod('kafka-0')]);
  kube.appendLog('kafka', 'kafka-0', 'kafka', acl('main'));
  kube.appendLog('kafka', 'kafka-0', 'metrics', acl('side'));
  const h = await follow(
    t,
    kube,
    { kind: 'servers', servers: [{ name: 'kafka-0', namespace: 'kafka' }] },
    {
      container: 'metrics',
    },
  );
  await until(() => h.counts()[K('side')] === 1);
  t.is(h.counts()[K('main')], undefined);
});

for (const scanner of SCANNERS)
  test(`a stream cut mid-line resumes with sinceTime: no line read twice or skipped (${scanner} scanner)`, async (t) => {
    const kube = await kubeWith(t, [pod('kafka-0')]);
    const proxy = await startCuttingProxy(kube.url);
    t.teardown(() => proxy.close());
    const dir = mkdtempSync(join(tmpdir(), 'callmap-kafka-kc-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, kubeconfigYaml(proxy.url));
    // Several lines within one second: the resumed request re-sends them all.
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('t1'), '2024-05-01T12:00:00.100000000Z');
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('t2'), '2024-05-01T12:00:00.200000000Z');
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('t2'), '2024-05-01T12:00:00.200000000Z');
    const h = await follow(
      t,
      kube,
      { kind: 'servers', servers: [{ name: 'kafka-0', namespace: 'kafka' }] },
      {
        kubeconfigPath: kc,
        scanner,
      },
    );
    await until(() => h.counts()[K('t1')] === 1 && h.counts()[K('t2')] === 2, 8000, 'initial lines');
    const cut = proxy.cutAt('topic-cut');
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('topic-cut'), '2024-05-01T12:00:00.300000000Z');
    await cut;
    await until(() => h.counts()[K('topic-cut')] === 1, 8000, 'the cut line, read whole after the reconnect');
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('after'), '2024-05-01T12:00:01.000000000Z');
    await until(() => h.counts()[K('after')] === 1, 8000, 'a line after the reconnect');
    await new Promise((r) => setTimeout(r, 150));
    t.is(h.counts()[K('t1')], 1);
    t.is(h.counts()[K('t2')], 2, 'two identical lines with the same stamp both count, once each');
    t.is(h.counts()[K('topic-cut')], 1);
    t.is(h.stats.reconnects, 1);
    t.is(h.stats.partialLinesDiscarded, 1);
    t.is(h.stats.duplicateLines, 3, 'the re-sent lines of the boundary second were dropped');
    t.is(h.stats.skippedTotal, 0, 'the half line was never parsed');
    t.true(proxy.connections() >= 2);
  });

for (const scanner of SCANNERS)
  test(`a replaced pod (new uid) is read from the start (${scanner} scanner)`, async (t) => {
    const kube = await kubeWith(t, [pod('kafka-0')]);
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('old'), '2024-05-01T12:00:05.000000000Z');
    const h = await follow(
      t,
      kube,
      { kind: 'servers', servers: [{ name: 'kafka-0', namespace: 'kafka' }] },
      { scanner },
    );
    await until(() => h.counts()[K('old')] === 1);
    kube.remove('Pod', 'kafka', 'kafka-0');
    await until(() => h.logs.some((l) => /kafka-0\.kafka not found/.test(l)), 8000, 'pod gone');
    kube.apply(pod('kafka-0'));
    // older stamp than anything read before: still new, since it is a new pod
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('new'), '2024-05-01T12:00:01.000000000Z');
    await until(() => h.counts()[K('new')] === 1, 8000, 'new pod line');
    t.true(h.logs.some((l) => /pod kafka-0\.kafka was replaced/.test(l)));
    t.is(h.counts()[K('old')], 1);
    t.true(h.stats.reconnects >= 1);
  });

for (const scanner of SCANNERS)
  test(`a restarted container (restartCount) is followed without re-reading (${scanner} scanner)`, async (t) => {
    const kube = await kubeWith(t, [pod('kafka-0')]);
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('r1'), '2024-05-01T12:00:00.100000000Z');
    const h = await follow(
      t,
      kube,
      { kind: 'servers', servers: [{ name: 'kafka-0', namespace: 'kafka' }] },
      { scanner },
    );
    await until(() => h.counts()[K('r1')] === 1);
    const uid = kube.get('Pod', 'kafka', 'kafka-0')?.metadata.uid as string;
    kube.apply(pod('kafka-0', { restarts: 1, uid }));
    await until(() => h.logs.some((l) => /container kafka of kafka-0\.kafka restarted/.test(l)), 8000, 'restart');
    kube.appendLog('kafka', 'kafka-0', 'kafka', acl('r2'), '2024-05-01T12:00:00.200000000Z');
    await until(() => h.counts()[K('r2')] === 1);
    await new Promise((r) => setTimeout(r, 150));
    t.is(h.counts()[K('r1')], 1);
    t.true(h.stats.reconnects >= 1);
  });

test('a server pod missing at start: clear error, keeps retrying, then picks it up', async (t) => {
  const kube = await kubeWith(t, []);
  const h = await follow(t, kube, { kind: 'servers', servers: [{ name: 'kafka-7', namespace: 'kafka' }] });
  await until(() => h.logs.length > 0, 8000, 'error line');
  t.regex(h.logs[0] as string, /kafka server pod kafka-7\.kafka not found .*; retrying \(next in \d+ ms\)/);
  await new Promise((r) => setTimeout(r, 300));
  t.is(h.logs.filter((l) => /not found/.test(l)).length, 1, 'the same problem is logged once');
  kube.apply(pod('kafka-7'));
  kube.appendLog('kafka', 'kafka-7', 'kafka', acl('finally'));
  await until(() => h.counts()[K('finally', '10.0.0.5', 'kafka-7')] === 1, 8000, 'picked up');
});

test('--selector follows every matching pod and starts on new ones', async (t) => {
  const kube = await kubeWith(t, [pod('kafka-0'), pod('kafka-1'), pod('zookeeper-0', { labels: { app: 'zk' } })]);
  kube.appendLog('kafka', 'kafka-0', 'kafka', acl('s0'));
  kube.appendLog('kafka', 'kafka-1', 'kafka', acl('s1'));
  kube.appendLog('kafka', 'zookeeper-0', 'kafka', acl('zk'));
  const h = await follow(t, kube, { kind: 'selector', selector: 'app=kafka', namespace: 'kafka' });
  await until(() => h.counts()[K('s0')] === 1 && h.counts()[K('s1', '10.0.0.5', 'kafka-1')] === 1);
  kube.apply(pod('kafka-2'));
  kube.appendLog('kafka', 'kafka-2', 'kafka', acl('s2'));
  await until(() => h.counts()[K('s2', '10.0.0.5', 'kafka-2')] === 1, 8000, 'new pod');
  t.is(h.counts()[K('zk', '10.0.0.5', 'zookeeper-0')], undefined);
  kube.remove('Pod', 'kafka', 'kafka-1');
  await until(() => h.logs.some((l) => /pod kafka\/kafka-1 no longer matches app=kafka; stopped following it/.test(l)));
});

test('CLI --once reads pod logs without following, reports, exits 0', async (t) => {
  const kube = await kubeWith(t, [pod('kafka-0'), pod('kafka-1')]);
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  kube.appendLog('kafka', 'kafka-0', 'kafka', `${acl('o1')}\n${acl('o1')}\n${kraft('o2')}`);
  kube.appendLog('kafka', 'kafka-1', 'kafka', acl('o3'));
  const f = fakeCtx();
  const code = await main(
    [
      'watch',
      'kafka',
      '--once',
      '--server',
      'kafka-0.kafka,kafka-1.kafka',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--mapper-url',
      rx.url,
    ],
    f.ctx,
  );
  t.is(code, 0, f.err());
  t.deepEqual(rx.invalid, []);
  t.deepEqual(countsByKey(rx.observations()), {
    [K('o1')]: 2,
    [K('o2', '10.0.0.6', 'kafka-0', 'produce', 'denied')]: 1,
    [K('o3', '10.0.0.5', 'kafka-1')]: 1,
  });
  t.is(kube.openStreams().logs, 0, 'no follow stream left open');
});

test('CLI --once exits 1 with a clear message when the pod is missing or the API is unreachable', async (t) => {
  const kube = await kubeWith(t, [pod('kafka-0')]);
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const f = fakeCtx();
  const args = ['watch', 'kafka', '--once', '--server', 'nope.kafka', '--kubeconfig', kube.kubeconfigPath];
  t.is(await main([...args, '--mapper-url', rx.url], f.ctx), 1);
  t.regex(f.err(), /kafka server pod nope\.kafka not found; check --server/);

  const dir = mkdtempSync(join(tmpdir(), 'callmap-kafka-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kc = join(dir, 'kubeconfig');
  writeFileSync(kc, kubeconfigYaml('http://127.0.0.1:1'));
  const g = fakeCtx();
  const code = await main(
    ['watch', 'kafka', '--once', '--server', 'kafka-0.kafka', '--kubeconfig', kc, '--mapper-url', rx.url],
    g.ctx,
  );
  t.is(code, 1);
  t.regex(g.err(), /cannot read kafka server pod kafka-0\.kafka from the Kubernetes API .*KAFKA_KUBE_UNREACHABLE/);
});

test('CLI --once with --selector reads every matching pod; no match is an error', async (t) => {
  const kube = await kubeWith(t, [pod('kafka-0'), pod('kafka-1'), pod('other-0', { labels: { app: 'other' } })]);
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  kube.appendLog('kafka', 'kafka-0', 'kafka', acl('x0'));
  kube.appendLog('kafka', 'kafka-1', 'kafka', acl('x1'));
  kube.appendLog('kafka', 'other-0', 'kafka', acl('x2'));
  const base = ['watch', 'kafka', '--once', '--kubeconfig', kube.kubeconfigPath, '--mapper-url', rx.url];
  const f = fakeCtx();
  t.is(await main([...base, '--selector', 'app=kafka', '-n', 'kafka'], f.ctx), 0, f.err());
  t.deepEqual(countsByKey(rx.observations()), { [K('x0')]: 1, [K('x1', '10.0.0.5', 'kafka-1')]: 1 });
  const g = fakeCtx();
  t.is(await main([...base, '--selector', 'app=nothing'], g.ctx), 1);
  t.regex(g.err(), /no pods match --selector app=nothing; check the labels/);
});
