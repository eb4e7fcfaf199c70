/**
 * @kubernetes/client-node 1.4 against the test server: typed list calls, informers (list +
 * watch), run-time add/modify/delete, log following, broken watches and 410 Gone.
 */
import { PassThrough } from 'node:stream';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  Log,
  makeInformer,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import test from 'ava';
import { type KubeApiTestServer, startKubeApiServer } from '../../kube-api-server/index.ts';

const FIXTURE = 'test/fixtures/kube/basic.yaml';

async function waitFor(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pod(name: string, namespace: string, ip: string, labels: Record<string, string> = { app: 'added' }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

async function withServer(fn: (s: KubeApiTestServer, kc: KubeConfig) => Promise<void>): Promise<void> {
  const s = await startKubeApiServer({ fixture: FIXTURE });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(s.kubeconfigPath);
    await fn(s, kc);
  } finally {
    await s.close();
  }
}

test('typed list calls see the fixture, with selectors and a list resourceVersion', async (t) => {
  await withServer(async (s, kc) => {
    const core = kc.makeApiClient(CoreV1Api);
    const shop = await core.listNamespacedPod({ namespace: 'shop' });
    t.deepEqual(shop.items.map((p) => p.metadata?.name).sort(), [
      'cart-6c4d5f8b7-wq8jn',
      'checkout-5b8f9c7d6-tx4rn',
      'debug-shell',
      'frontend-7d9c8b6f5-2mzxk',
      'frontend-7d9c8b6f5-9qlvd',
      'report-nightly-29397600-hz6nq',
    ]);
    t.is(shop.metadata?.resourceVersion, s.resourceVersion());
    const kafka0 = shop.items.find((p) => p.metadata?.name === 'debug-shell');
    t.is(kafka0?.status?.podIP, '10.244.1.30');
    t.truthy(kafka0?.metadata?.uid);
    t.truthy(kafka0?.metadata?.creationTimestamp instanceof Date);

    const onB = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-b,status.phase=Running' });
    t.deepEqual(onB.items.map((p) => p.metadata?.name).sort(), [
      'cart-6c4d5f8b7-wq8jn',
      'frontend-7d9c8b6f5-9qlvd',
      'kafka-1',
      'kube-proxy-m4t2w',
    ]);
    const hostNet = await core.listPodForAllNamespaces({ fieldSelector: 'spec.hostNetwork=true' });
    t.deepEqual(
      hostNet.items.map((p) => [p.metadata?.name, p.status?.podIP]),
      [
        ['kube-proxy-7xk9p', '10.0.0.11'],
        ['kube-proxy-m4t2w', '10.0.0.12'],
      ],
    );
    const web = await core.listPodForAllNamespaces({ labelSelector: 'app in (frontend,kafka),tier!=web' });
    t.deepEqual(
      web.items.map((p) => p.metadata?.name),
      ['kafka-0', 'kafka-1'],
    );

    const apps = kc.makeApiClient(AppsV1Api);
    const sts = await apps.readNamespacedStatefulSet({ name: 'kafka', namespace: 'kafka' });
    t.is(sts.spec?.serviceName, 'kafka-headless');

    const err = await t.throwsAsync(core.readNamespacedPod({ name: 'nope', namespace: 'shop' }));
    t.true(err instanceof ApiException);
    t.is((err as ApiException<unknown>).code, 404);
    t.regex(String((err as ApiException<unknown>).body), /pods \\?"nope\\?" not found/);

    const bad = await t.throwsAsync(core.listPodForAllNamespaces({ labelSelector: 'app in (' }));
    t.is((bad as ApiException<unknown>).code, 400);
  });
});

test('an informer lists, then sees a pod added, modified and deleted at run time', async (t) => {
  await withServer(async (s, kc) => {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer(kc, '/api/v1/namespaces/shop/pods', () =>
      core.listNamespacedPod({ namespace: 'shop' }),
    );
    const seen: string[] = [];
    informer.on('add', (p: V1Pod) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p: V1Pod) => seen.push(`update ${p.metadata?.name} ${p.status?.phase}`));
    informer.on('delete', (p: V1Pod) => seen.push(`delete ${p.metadata?.name}`));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    await waitFor('initial list', () => seen.length === 6);
    await waitFor('watch open', () => s.openStreams().watches === 1);

    s.apply(pod('late-arrival', 'shop', '10.244.1.99'));
    s.apply(pod('elsewhere', 'kafka', '10.244.1.98')); // another namespace: not seen
    await waitFor('ADDED', () => seen.includes('add late-arrival'));
    s.apply({ ...pod('late-arrival', 'shop', '10.244.1.99'), status: { phase: 'Failed', podIP: '10.244.1.99' } });
    await waitFor('MODIFIED', () => seen.includes('update late-arrival Failed'));
    t.truthy(s.remove('Pod', 'shop', 'late-arrival'));
    await waitFor('DELETED', () => seen.includes('delete late-arrival'));
    t.false(seen.some((e) => e.includes('elsewhere')));
    t.is(informer.get('late-arrival', 'shop'), undefined);
    t.is(informer.list('shop').length, 6);
    t.deepEqual(errors, []);
    await informer.stop();
  });
});

test('a watch broken by breakWatches() surfaces as an informer error and the informer stops', async (t) => {
  await withServer(async (s, kc) => {
    const core = kc.makeApiClient(CoreV1Api);
    let lists = 0;
    const informer = makeInformer(kc, '/api/v1/pods', () => {
      lists++;
      return core.listPodForAllNamespaces();
    });
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    const added: string[] = [];
    informer.on('add', (p: V1Pod) => added.push(p.metadata?.name ?? ''));
    await informer.start();
    await waitFor('watch open', () => s.openStreams().watches === 1);
    t.is(s.breakWatches(), 1);
    await waitFor('informer error', () => errors.length === 1);
    // client-node does not restart after an error: a pod added now is never seen.
    s.apply(pod('after-break', 'default', '10.244.1.97'));
    await new Promise((r) => setTimeout(r, 300));
    t.false(added.includes('after-break'));
    t.is(lists, 1);
    t.is(s.openStreams().watches, 0);
    await informer.stop();
  });
});

test('expireHistory(): a watch from an old resourceVersion gets ERROR 410 Expired, an informer relists', async (t) => {
  await withServer(async (s, kc) => {
    const oldRv = s.resourceVersion();
    s.expireHistory();
    const events: { type: string; object: { code?: number; reason?: string } }[] = [];
    let doneErr: unknown = 'pending';
    await new Watch(kc).watch(
      '/api/v1/pods',
      { resourceVersion: oldRv },
      (type, object) => events.push({ type, object }),
      (err) => {
        doneErr = err;
      },
    );
    await waitFor('watch done', () => doneErr !== 'pending');
    t.is(doneErr, null);
    t.is(events.length, 1);
    t.is(events[0]?.type, 'ERROR');
    t.is(events[0]?.object.code, 410);
    t.is(events[0]?.object.reason, 'Expired');

    // An informer whose watch ends cleanly re-watches from its resourceVersion; after the history
    // expired that yields 410 and client-node relists from scratch.
    const core = kc.makeApiClient(CoreV1Api);
    let lists = 0;
    const informer = makeInformer(kc, '/api/v1/namespaces/kafka/pods', () => {
      lists++;
      return core.listNamespacedPod({ namespace: 'kafka' });
    });
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    await waitFor('watch open', () => s.openStreams().watches === 1);
    s.expireHistory();
    t.is(s.breakWatches('end'), 1);
    await waitFor('relist after 410', () => lists === 2);
    await waitFor('watch reopened', () => s.openStreams().watches === 1);
    s.apply(pod('kafka-2', 'kafka', '10.244.1.22'));
    await waitFor('informer sees new pod', () => informer.get('kafka-2', 'kafka') !== undefined);
    t.deepEqual(errors, []);
    await informer.stop();
  });
});

test('Log follows a container: existing lines, appended lines, ends when the pod is deleted', async (t) => {
  await withServer(async (s, kc) => {
    s.appendLog('shop', 'checkout-5b8f9c7d6-tx4rn', 'istio-proxy', 'envoy ready', '2026-11-21T20:00:00.123456789Z');
    s.appendLog('shop', 'checkout-5b8f9c7d6-tx4rn', 'checkout', 'not this container');
    const out = new PassThrough();
    let text = '';
    let ended = false;
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    out.on('end', () => {
      ended = true;
    });
    const ctl = await new Log(kc).log('shop', 'checkout-5b8f9c7d6-tx4rn', 'istio-proxy', out, {
      follow: true,
      timestamps: true,
    });
    await waitFor('first line', () => text.includes('envoy ready'));
    t.true(text.startsWith('2026-11-21T20:00:00.123456789Z envoy ready\n'));
    s.appendLog('shop', 'checkout-5b8f9c7d6-tx4rn', 'istio-proxy', 'GET /cart 200\nPOST /pay 201');
    await waitFor('appended lines', () => text.includes('POST /pay 201\n'));
    t.false(text.includes('not this container'));
    t.regex(text, /\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z GET \/cart 200\n/);
    s.remove('Pod', 'shop', 'checkout-5b8f9c7d6-tx4rn');
    await waitFor('stream end', () => ended);
    ctl.abort();

    const missing = await t.throwsAsync(new Log(kc).log('shop', 'nope', 'x', new PassThrough()));
    t.is((missing as ApiException<unknown>).code, 404);
  });
});
